import Foundation

/// Everything that can go wrong loading OpenMPI or running a collective.
///
/// Every message names what was attempted (the library names tried, the symbol, the MPI call) so a failed
/// `mpirun` launch can be diagnosed from one rank's log line.
public enum DistributedError: Error, Equatable, CustomStringConvertible {
    /// None of the candidate libraries could be opened. `attempts` pairs each name tried with `dlerror()`'s reason.
    case libraryNotLoaded(attempts: [LibraryLoadAttempt])
    /// The library opened but lacks a symbol this package needs — typically because it is not OpenMPI
    /// (MPICH's `libmpi.so.12` has a different ABI: handles are integers, not `ompi_*` globals).
    case missingSymbol(name: String, library: String)
    /// An MPI call returned something other than `MPI_SUCCESS` (0).
    case mpiCallFailed(call: String, code: Int32)
    /// Arguments that cannot form a valid collective (mismatched counts, bad root, bad bucket size).
    case invalidArgument(String)
    /// MPI was finalized in this process; MPI cannot be initialized a second time, so no further collectives.
    case finalized

    /// One `dlopen` attempt: the name passed and why it failed.
    public struct LibraryLoadAttempt: Equatable, Sendable {
        /// The name or path passed to `dlopen`.
        public var name: String
        /// `dlerror()`'s message for the failure.
        public var reason: String
        public init(name: String, reason: String) {
            self.name = name
            self.reason = reason
        }
    }

    public var description: String {
        switch self {
        case .libraryNotLoaded(let attempts):
            let tried = attempts.map { "\($0.name) (\($0.reason))" }.joined(separator: "; ")
            return "could not load OpenMPI's libmpi; tried: \(tried). Processes launched by mpirun need OpenMPI's "
                + "runtime (Debian: apt-get install libopenmpi3 openmpi-bin), or set MGLLAVA_LIBMPI to the path of "
                + "libmpi.so.40"
        case .missingSymbol(let name, let library):
            return "\(library) has no symbol \(name); mgllava needs OpenMPI's ABI (libmpi.so.40), not another MPI"
        case .mpiCallFailed(let call, let code):
            return "\(call) failed with MPI error code \(code)"
        case .invalidArgument(let message):
            return "invalid collective arguments: \(message)"
        case .finalized:
            return "MPI has been finalized in this process and cannot be used or initialized again"
        }
    }
}
