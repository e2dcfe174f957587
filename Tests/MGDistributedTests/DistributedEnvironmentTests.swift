import MGDistributed
import XCTest

final class DistributedEnvironmentTests: XCTestCase {
    func testPlainProcessIsSingle() {
        let env = DistributedEnvironment.detect(["PATH": "/usr/bin", "HOME": "/root"])
        XCTAssertEqual(env, DistributedEnvironment(launcher: .none, rank: 0, size: 1, localRank: 0, localSize: 1))
        XCTAssertFalse(env.isLaunchedByMPI)
    }

    func testOpenMPIVariables() {
        let env = DistributedEnvironment.detect([
            "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "3",
            "OMPI_COMM_WORLD_LOCAL_RANK": "1", "OMPI_COMM_WORLD_LOCAL_SIZE": "2", "PMIX_RANK": "3"
        ])
        XCTAssertEqual(env, DistributedEnvironment(launcher: .openMPI, rank: 3, size: 4, localRank: 1, localSize: 2))
        XCTAssertTrue(env.isLaunchedByMPI)
    }

    func testSizeOneUnderMpirunIsStillALaunch() {
        let env = DistributedEnvironment.detect(["OMPI_COMM_WORLD_SIZE": "1", "OMPI_COMM_WORLD_RANK": "0"])
        XCTAssertEqual(env.launcher, .openMPI)
        XCTAssertEqual(env.size, 1)
        XCTAssertTrue(env.isLaunchedByMPI, "mpirun -np 1 must still initialize MPI")
    }

    func testPMIxOnly() {
        let env = DistributedEnvironment.detect(["PMIX_RANK": "2"])
        XCTAssertEqual(env, DistributedEnvironment(launcher: .pmix, rank: 2))
        XCTAssertTrue(env.isLaunchedByMPI)
    }

    func testMalformedValuesStillCountAsALaunch() {
        let env = DistributedEnvironment.detect(["OMPI_COMM_WORLD_SIZE": "two", "OMPI_COMM_WORLD_RANK": "-1"])
        XCTAssertEqual(env, DistributedEnvironment(launcher: .openMPI))
    }

    func testFactoryOutsideMpirunNeedsNoLibrary() throws {
        let comm = try Communicators.fromEnvironment([:], libraryCandidates: ["/nonexistent/libmpi.so.40"])
        XCTAssertTrue(comm is SingleProcessCommunicator)
    }

    func testFactoryUnderMpirunWithoutLibraryThrows() {
        let env = ["OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "0"]
        XCTAssertThrowsError(try Communicators.fromEnvironment(env, libraryCandidates: ["/nonexistent/libmpi.so.40"])) {
            guard case DistributedError.libraryNotLoaded = $0 else { return XCTFail("unexpected \($0)") }
        }
    }
}
