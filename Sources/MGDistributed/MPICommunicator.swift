import Foundation

/// A ``Communicator`` over OpenMPI's `MPI_COMM_WORLD`, with `libmpi` loaded at run time (see ``MPILibrary``).
///
/// Lifetime: `init` calls `MPI_Init` unless MPI is already initialized in this process (so several instances, or
/// a host that initialized MPI itself, are fine). MPI is **not** finalized in `deinit` — `MPI_Finalize` is
/// collective, allowed once per process, and must come after every rank's last collective, which object
/// lifetimes cannot guarantee. Call ``finalize()`` explicitly on every rank before exiting; after it, every
/// collective on any instance throws ``DistributedError/finalized``.
///
/// Errors: every return code is checked, but note that OpenMPI's default error handler on `MPI_COMM_WORLD` is
/// `MPI_ERRORS_ARE_FATAL`, so most communication failures abort the job before a code is returned.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    /// The largest element count passed to one MPI call. MPI counts are C `int`; longer buffers are split into
    /// pieces of at most this many elements. Lower it only to exercise the splitting in tests.
    public let maxElementsPerCall: Int
    /// The loaded OpenMPI library.
    public let library: MPILibrary

    /// Loads OpenMPI (unless `library` is given), initializes MPI if needed and queries rank and size.
    /// - Parameters:
    ///   - library: an already loaded library; `nil` loads ``MPILibrary/defaultCandidates(environment:)`` for
    ///     this process's environment.
    ///   - maxElementsPerCall: see ``maxElementsPerCall``; clamped to `1...Int32.max`.
    /// - Throws: ``DistributedError`` if the library cannot be loaded, MPI was already finalized, or a call fails.
    public init(library: MPILibrary? = nil, maxElementsPerCall: Int = Int(Int32.max)) throws {
        let lib =
            try library
            ?? MPILibrary.load(
                candidates: MPILibrary.defaultCandidates(environment: ProcessInfo.processInfo.environment))
        self.library = lib
        self.maxElementsPerCall = min(max(1, maxElementsPerCall), Int(Int32.max))

        var flag: Int32 = 0
        try Self.check(lib.finalized(&flag), "MPI_Finalized")
        if flag != 0 { throw DistributedError.finalized }
        try Self.check(lib.initialized(&flag), "MPI_Initialized")
        // MPI-2 allows NULL argc/argv; mpirun passes everything MPI needs through the environment.
        if flag == 0 { try Self.check(lib.initialize(nil, nil), "MPI_Init") }

        var value: Int32 = 0
        try Self.check(lib.commRank(lib.commWorld, &value), "MPI_Comm_rank")
        rank = Int(value)
        try Self.check(lib.commSize(lib.commWorld, &value), "MPI_Comm_size")
        size = Int(value)
    }

    /// Finalizes MPI for the whole process (collective: every rank must call it, after its last collective).
    /// Calling it again, or after MPI was finalized elsewhere, does nothing.
    public func finalize() throws {
        var flag: Int32 = 0
        try Self.check(library.finalized(&flag), "MPI_Finalized")
        if flag == 0 { try Self.check(library.finalize(), "MPI_Finalize") }
    }

    // MARK: - Collectives

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try allReduce(
            UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count,
            stride: MemoryLayout<Float>.stride, type: library.float, op: library.opSum)
    }

    public func allReduceSum(_ values: inout [Double]) throws {
        try values.withUnsafeMutableBufferPointer {
            try allReduce(
                UnsafeMutableRawPointer($0.baseAddress), count: $0.count,
                stride: MemoryLayout<Double>.stride, type: library.double, op: library.opSum)
        }
    }

    public func allReduceMax(_ values: inout [Double]) throws {
        try values.withUnsafeMutableBufferPointer {
            try allReduce(
                UnsafeMutableRawPointer($0.baseAddress), count: $0.count,
                stride: MemoryLayout<Double>.stride, type: library.double, op: library.opMax)
        }
    }

    public func reduceScatterSum(
        _ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>
    ) throws {
        try checkScatterCounts(input: input.count, output: output.count, call: "reduceScatterSum")
        try ensureActive()
        let chunk = output.count
        guard chunk > 0, let src = input.baseAddress, let dst = output.baseAddress else { return }
        if chunk <= maxElementsPerCall {
            try check(
                library.reduceScatterBlock(
                    src, dst, Int32(chunk), library.float, library.opSum,
                    library.commWorld), "MPI_Reduce_scatter_block")
            return
        }
        // Piece [offset, offset+n) of every rank's chunk is strided in `input`; gather it contiguously first.
        let staging = UnsafeMutablePointer<Float>.allocate(capacity: size * maxElementsPerCall)
        defer { staging.deallocate() }
        try forEachPiece(of: chunk) { offset, n in
            for r in 0..<size { (staging + r * n).update(from: src + r * chunk + offset, count: n) }
            try check(
                library.reduceScatterBlock(
                    staging, dst + offset, Int32(n), library.float, library.opSum,
                    library.commWorld), "MPI_Reduce_scatter_block")
        }
    }

    public func allGather(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) throws {
        try checkScatterCounts(input: output.count, output: input.count, call: "allGather")
        try ensureActive()
        let chunk = input.count
        guard chunk > 0, let src = input.baseAddress, let dst = output.baseAddress else { return }
        if chunk <= maxElementsPerCall {
            try check(
                library.allgather(
                    src, Int32(chunk), library.float, dst, Int32(chunk), library.float,
                    library.commWorld), "MPI_Allgather")
            return
        }
        // Each rank's piece lands strided in `output`; receive contiguously, then scatter into place.
        let staging = UnsafeMutablePointer<Float>.allocate(capacity: size * maxElementsPerCall)
        defer { staging.deallocate() }
        try forEachPiece(of: chunk) { offset, n in
            try check(
                library.allgather(
                    src + offset, Int32(n), library.float, staging, Int32(n), library.float,
                    library.commWorld), "MPI_Allgather")
            for r in 0..<size { (dst + r * chunk + offset).update(from: staging + r * n, count: n) }
        }
    }

    public func broadcast(_ data: inout Data, root: Int) throws {
        guard (0..<size).contains(root) else {
            throw DistributedError.invalidArgument("broadcast root \(root) not in 0..<\(size)")
        }
        try ensureActive()
        // Receivers cannot size their buffer without the length, so it goes first (as 8 raw bytes: all ranks of
        // one job share an architecture).
        var length = Int64(rank == root ? data.count : 0)
        try withUnsafeMutableBytes(of: &length) {
            try check(library.bcast($0.baseAddress, 8, library.byte, Int32(root), library.commWorld), "MPI_Bcast")
        }
        if rank != root { data = Data(count: Int(length)) }
        guard length > 0 else { return }
        try data.withUnsafeMutableBytes { (bytes: UnsafeMutableRawBufferPointer) in
            guard let base = bytes.baseAddress else { return }
            try forEachPiece(of: bytes.count) { offset, n in
                try check(
                    library.bcast(base + offset, Int32(n), library.byte, Int32(root), library.commWorld),
                    "MPI_Bcast")
            }
        }
    }

    public func barrier() throws {
        try ensureActive()
        try check(library.barrier(library.commWorld), "MPI_Barrier")
    }

    public func abort(code: Int32) -> Never {
        _ = library.abort(library.commWorld, code)
        exit(code)  // MPI_Abort does not return in practice; exit anyway in case the runtime is already gone
    }

    // MARK: - Helpers

    /// In-place all-reduce of `count` elements of `stride` bytes, split into MPI-sized pieces.
    private func allReduce(
        _ base: UnsafeMutableRawPointer?, count: Int, stride: Int,
        type: OpaquePointer, op: OpaquePointer
    ) throws {
        try ensureActive()
        guard count > 0, let base else { return }
        try forEachPiece(of: count) { offset, n in
            try check(
                library.allreduce(
                    MPILibrary.inPlace, base + offset * stride, Int32(n), type, op,
                    library.commWorld), "MPI_Allreduce")
        }
    }

    /// Calls `body(offset, n)` for consecutive pieces covering `0..<count`, each at most `maxElementsPerCall`.
    private func forEachPiece(of count: Int, _ body: (Int, Int) throws -> Void) rethrows {
        var offset = 0
        while offset < count {
            let n = min(maxElementsPerCall, count - offset)
            try body(offset, n)
            offset += n
        }
    }

    private func ensureActive() throws {
        var flag: Int32 = 0
        try check(library.finalized(&flag), "MPI_Finalized")
        if flag != 0 { throw DistributedError.finalized }
    }

    private func check(_ code: Int32, _ call: String) throws { try Self.check(code, call) }

    private static func check(_ code: Int32, _ call: String) throws {
        guard code == 0 else { throw DistributedError.mpiCallFailed(call: call, code: code) }
    }
}
