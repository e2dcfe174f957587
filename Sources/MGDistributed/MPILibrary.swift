import Foundation
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// OpenMPI's C entry points and predefined handles, resolved at run time with `dlopen`/`dlsym`.
///
/// Loading at run time (rather than linking `-lmpi`) keeps the package buildable and runnable on machines without
/// MPI: only processes that actually start an ``MPICommunicator`` need `libmpi`. The handle is never closed —
/// MPI cannot be re-initialized after finalization and its plugins keep references into the library, so
/// unloading it would buy nothing and risk dangling code pointers.
///
/// This follows OpenMPI's ABI (`mpi.h` of Open MPI 4.x): `MPI_Comm`, `MPI_Datatype` and `MPI_Op` are pointers,
/// and predefined handles such as `MPI_COMM_WORLD` are the addresses of exported globals (`ompi_mpi_comm_world`).
/// Another MPI (MPICH uses integer handles) fails with ``DistributedError/missingSymbol(name:library:)``.
public final class MPILibrary {
    // C signatures from mpi.h; handles are `OpaquePointer` because their struct types are opaque to us.
    typealias FlagFn = @convention(c) (UnsafeMutablePointer<Int32>?) -> Int32
    typealias InitFn =
        @convention(c) (
            UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?
        ) -> Int32
    typealias FinalizeFn = @convention(c) () -> Int32
    typealias CommIntFn = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?) -> Int32
    /// MPI_Allreduce and MPI_Reduce_scatter_block share one shape: (send, recv, count, type, op, comm).
    typealias ReduceFn =
        @convention(c) (
            UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, OpaquePointer?, OpaquePointer?, OpaquePointer?
        ) -> Int32
    typealias AllgatherFn =
        @convention(c) (
            UnsafeRawPointer?, Int32, OpaquePointer?, UnsafeMutableRawPointer?, Int32, OpaquePointer?, OpaquePointer?
        ) -> Int32
    typealias BcastFn = @convention(c) (UnsafeMutableRawPointer?, Int32, OpaquePointer?, Int32, OpaquePointer?) -> Int32
    typealias BarrierFn = @convention(c) (OpaquePointer?) -> Int32
    typealias AbortFn = @convention(c) (OpaquePointer?, Int32) -> Int32

    /// The name that `dlopen` accepted.
    public let path: String

    let initialized: FlagFn
    let initialize: InitFn
    let finalized: FlagFn
    let finalize: FinalizeFn
    let commRank: CommIntFn
    let commSize: CommIntFn
    let allreduce: ReduceFn
    let reduceScatterBlock: ReduceFn
    let allgather: AllgatherFn
    let bcast: BcastFn
    let barrier: BarrierFn
    let abort: AbortFn

    let commWorld: OpaquePointer
    let float: OpaquePointer
    let double: OpaquePointer
    let byte: OpaquePointer
    let int: OpaquePointer
    let opSum: OpaquePointer
    let opMax: OpaquePointer

    /// OpenMPI's `MPI_IN_PLACE` is the sentinel address 1 (`(void *) 1` in mpi.h).
    static let inPlace = UnsafeRawPointer(bitPattern: 1)

    /// The names ``load(candidates:)`` tries by default: `$MGLLAVA_LIBMPI` when set and non-empty, then the
    /// runtime soname that Debian's `libopenmpi3` ships (`libmpi.so.40`), then the unversioned development link.
    public static func defaultCandidates(environment: [String: String]) -> [String] {
        var names: [String] = []
        if let explicit = environment["MGLLAVA_LIBMPI"], !explicit.isEmpty { names.append(explicit) }
        #if os(macOS)
            names += ["libmpi.40.dylib", "libmpi.dylib"]
        #else
            names += ["libmpi.so.40", "libmpi.so"]
        #endif
        return names
    }

    /// Opens the first candidate that `dlopen` accepts and resolves every symbol this package uses.
    ///
    /// `RTLD_GLOBAL` is required: OpenMPI `dlopen`s its own MCA plugins, which expect libmpi's symbols to be in
    /// the global namespace. `RTLD_NOW` surfaces unresolved dependencies here instead of at the first call.
    /// - Parameter candidates: library names or paths, tried in order (see ``defaultCandidates(environment:)``).
    /// - Throws: ``DistributedError/libraryNotLoaded(attempts:)`` listing every name tried, or
    ///   ``DistributedError/missingSymbol(name:library:)`` when the opened library is not OpenMPI.
    public static func load(candidates: [String]) throws -> MPILibrary {
        var attempts: [DistributedError.LibraryLoadAttempt] = []
        for name in candidates {
            if let handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL) {
                do {
                    return try MPILibrary(handle: handle, path: name)
                } catch {
                    // Not OpenMPI: unload it so its globals do not shadow anything loaded later.
                    dlclose(handle)
                    throw error
                }
            }
            let reason = dlerror().map { String(cString: $0) } ?? "unknown dlopen failure"
            attempts.append(.init(name: name, reason: reason))
        }
        throw DistributedError.libraryNotLoaded(attempts: attempts)
    }

    private init(handle: UnsafeMutableRawPointer, path: String) throws {
        self.path = path
        func address(_ name: String) throws -> UnsafeMutableRawPointer {
            guard let symbol = dlsym(handle, name) else {
                throw DistributedError.missingSymbol(name: name, library: path)
            }
            return symbol
        }
        func function<F>(_ name: String, as type: F.Type) throws -> F {
            unsafeBitCast(try address(name), to: type)
        }
        func handleOf(_ name: String) throws -> OpaquePointer { OpaquePointer(try address(name)) }

        initialized = try function("MPI_Initialized", as: FlagFn.self)
        initialize = try function("MPI_Init", as: InitFn.self)
        finalized = try function("MPI_Finalized", as: FlagFn.self)
        finalize = try function("MPI_Finalize", as: FinalizeFn.self)
        commRank = try function("MPI_Comm_rank", as: CommIntFn.self)
        commSize = try function("MPI_Comm_size", as: CommIntFn.self)
        allreduce = try function("MPI_Allreduce", as: ReduceFn.self)
        reduceScatterBlock = try function("MPI_Reduce_scatter_block", as: ReduceFn.self)
        allgather = try function("MPI_Allgather", as: AllgatherFn.self)
        bcast = try function("MPI_Bcast", as: BcastFn.self)
        barrier = try function("MPI_Barrier", as: BarrierFn.self)
        abort = try function("MPI_Abort", as: AbortFn.self)

        commWorld = try handleOf("ompi_mpi_comm_world")
        float = try handleOf("ompi_mpi_float")
        double = try handleOf("ompi_mpi_double")
        byte = try handleOf("ompi_mpi_byte")
        int = try handleOf("ompi_mpi_int")
        opSum = try handleOf("ompi_mpi_op_sum")
        opMax = try handleOf("ompi_mpi_op_max")
    }
}
