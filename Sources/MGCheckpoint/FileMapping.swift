import Foundation

/// Read-only memory mapping of a checkpoint file, shared by the safetensors, torch and GGUF readers.
enum FileMapping {
    /// Opens and maps the regular file at `path` read-only. A file shorter than `minimumSize` is refused with
    /// `tooSmall(size)` before mapping (mmap cannot map an empty file). The caller munmaps (pointer, size).
    static func mapReadOnly(
        path: String, minimumSize: Int, tooSmall: (Int) -> Error
    ) throws -> (UnsafeMutableRawPointer, Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError.io(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw CheckpointError.io(path: path, operation: "fstat", errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw CheckpointError.notARegularFile(path: path) }
        let size = Int(info.st_size)
        guard size >= max(minimumSize, 1) else { throw tooSmall(size) }
        guard let pointer = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), pointer != MAP_FAILED else {
            throw CheckpointError.io(path: path, operation: "mmap", errno: errno)
        }
        return (pointer, size)
    }
}
