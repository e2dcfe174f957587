import Foundation

/// What the launcher told this process through its environment, read before any MPI call.
///
/// OpenMPI's `mpirun` sets `OMPI_COMM_WORLD_SIZE`/`OMPI_COMM_WORLD_RANK` (and the `LOCAL_` variants); PMIx-based
/// launchers (OpenMPI 4+'s own runtime, `srun --mpi=pmix`) set `PMIX_RANK`. Detecting the launch from these lets a
/// plain `mgllava train` never touch libmpi, while the same binary under `mpirun` joins the job.
public struct DistributedEnvironment: Equatable, Sendable {
    /// Who launched the process.
    public enum Launcher: Equatable, Sendable {
        /// Not launched by an MPI launcher: a single process.
        case none
        /// OpenMPI's `mpirun`/`mpiexec` (`OMPI_COMM_WORLD_*` set).
        case openMPI
        /// A PMIx launcher without OpenMPI's variables (`PMIX_RANK` set).
        case pmix
    }

    /// Who launched this process; `.none` outside an MPI launcher.
    public var launcher: Launcher
    /// The world rank the launcher announced, if it did (MPI's own answer is authoritative).
    public var rank: Int?
    /// The world size the launcher announced, if it did.
    public var size: Int?
    /// This process's index among the job's processes on the same node (`OMPI_COMM_WORLD_LOCAL_RANK`).
    public var localRank: Int?
    /// How many of the job's processes share this node (`OMPI_COMM_WORLD_LOCAL_SIZE`); useful for dividing CPU
    /// cores between ranks.
    public var localSize: Int?

    /// Whether an MPI launcher started this process — then MPI must be initialized, even for a job of size 1.
    public var isLaunchedByMPI: Bool { launcher != .none }

    /// A description of a launch; ``detect(_:)`` is the usual way to get one.
    public init(launcher: Launcher, rank: Int? = nil, size: Int? = nil, localRank: Int? = nil, localSize: Int? = nil) {
        self.launcher = launcher
        self.rank = rank
        self.size = size
        self.localRank = localRank
        self.localSize = localSize
    }

    /// Reads the launcher variables from `environment` (a pure function, so it is testable with any dictionary).
    /// A variable that is present but not a non-negative integer still counts as a launch; its value is `nil`.
    public static func detect(_ environment: [String: String]) -> DistributedEnvironment {
        func int(_ key: String) -> Int? { environment[key].flatMap { Int($0) }.flatMap { $0 >= 0 ? $0 : nil } }
        let ompiKeys = ["OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"]
        if ompiKeys.contains(where: { environment[$0] != nil }) {
            return DistributedEnvironment(
                launcher: .openMPI, rank: int("OMPI_COMM_WORLD_RANK"), size: int("OMPI_COMM_WORLD_SIZE"),
                localRank: int("OMPI_COMM_WORLD_LOCAL_RANK"), localSize: int("OMPI_COMM_WORLD_LOCAL_SIZE"))
        }
        if environment["PMIX_RANK"] != nil {
            return DistributedEnvironment(launcher: .pmix, rank: int("PMIX_RANK"))
        }
        return DistributedEnvironment(launcher: .none, rank: 0, size: 1, localRank: 0, localSize: 1)
    }

    /// This process's environment, detected.
    public static var current: DistributedEnvironment { detect(ProcessInfo.processInfo.environment) }
}

/// Factory for the communicator that fits how this process was launched.
///
/// (A namespace rather than a static method on ``Communicator``: Swift cannot call static members on a protocol
/// metatype that returns an existential.)
public enum Communicators {
    /// An ``MPICommunicator`` when an MPI launcher started this process (any size, 1 included, so that
    /// `mpirun -np 1` behaves like a real job), otherwise a ``SingleProcessCommunicator``. Outside `mpirun` no
    /// library is loaded, so this works where MPI is not installed.
    /// - Parameters:
    ///   - environment: the variables to inspect; defaults to this process's environment.
    ///   - libraryCandidates: names for ``MPILibrary/load(candidates:)``; `nil` uses
    ///     ``MPILibrary/defaultCandidates(environment:)`` of `environment`.
    /// - Throws: ``DistributedError`` when launched by MPI but OpenMPI cannot be loaded or initialized.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment,
        libraryCandidates: [String]? = nil
    ) throws -> any Communicator {
        guard DistributedEnvironment.detect(environment).isLaunchedByMPI else { return SingleProcessCommunicator() }
        let candidates = libraryCandidates ?? MPILibrary.defaultCandidates(environment: environment)
        return try MPICommunicator(library: MPILibrary.load(candidates: candidates))
    }
}
