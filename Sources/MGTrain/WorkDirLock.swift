import Foundation
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An exclusive `flock` on a work dir's `.lock` file, held for the life of the object (and released by the
/// kernel when the process dies, however it dies). Two `train` processes on one work dir would otherwise
/// interleave `metrics.jsonl` lines and delete each other's temporary checkpoints.
public final class WorkDirLock {
    public static let fileName = ".lock"
    public let workDir: URL
    private let descriptor: Int32

    /// Creates the work dir if needed and takes the lock, or throws naming the process that holds it.
    public init(workDir: URL) throws {
        self.workDir = workDir
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: workDir.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw WorkDirLockError.cannotCreate(workDir.path, "it is a file, not a folder")
        }
        do {
            try FileManager.default.createDirectory(at: workDir, withIntermediateDirectories: true)
        } catch {
            throw WorkDirLockError.cannotCreate(workDir.path, DataError.plainReason(error))
        }
        let path = workDir.appendingPathComponent(Self.fileName).path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WorkDirLockError.cannotCreate(path, String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            let holder = Self.readPID(fd)
            close(fd)
            if code == EWOULDBLOCK { throw WorkDirLockError.held(workDir.path, pid: holder) }
            throw WorkDirLockError.cannotCreate(path, String(cString: strerror(code)))
        }
        // The holder's pid, for the message a second process prints.
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        descriptor = fd
    }

    deinit {
        // Closing releases the lock; the file stays (removing it would race with a process opening it).
        close(descriptor)
    }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer.prefix(n), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// Why a work dir cannot be locked.
public enum WorkDirLockError: Error, Equatable, CustomStringConvertible {
    /// Another process holds the lock (its pid when it wrote one).
    case held(String, pid: Int32?)
    case cannotCreate(String, String)

    public var description: String {
        switch self {
        case .held(let path, let pid):
            return "work dir \(path) is in use by another training process"
                + (pid.map { " (pid \($0))" } ?? "") + ": wait for it to finish, stop it, or use another --work-dir"
        case .cannotCreate(let path, let why): return "cannot use the work dir \(path): \(why)"
        }
    }
}
