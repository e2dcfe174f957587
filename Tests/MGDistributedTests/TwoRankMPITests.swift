import Foundation
import MGDistributed
import XCTest
import MGTestSupport

#if os(Linux)
    /// A real two-rank run: `testTwoRanksUnderMpirun` relaunches this test binary under `mpirun -np 2`, filtered to
    /// `testWorker`, which performs every collective and checks the results. The package has no MPI executable of its
    /// own, and on Linux the XCTest bundle is an ordinary executable, so it serves as one. Skipped without `mpirun`.
    final class TwoRankMPITests: XCTestCase {
        private static let workerVariable = "MGLLAVA_MPI_TEST_WORKER"
        private static let timeoutSeconds = 180.0

        func testTwoRanksUnderMpirun() throws {
            let environment = ProcessInfo.processInfo.environment
            if environment[Self.workerVariable] != nil { throw XCTSkip("this is a worker process") }
            guard let mpirun = Self.findOnPath("mpirun", path: environment["PATH"] ?? "") else {
                try skipUnlessCI("mpirun is not on PATH (Debian: openmpi-bin libopenmpi3)")
            }
            // MGDistributed speaks OpenMPI's ABI only; another MPI's mpirun (MPICH) is not a failure of this package.
            guard try Self.output(of: mpirun, ["--version"]).contains("Open MPI") else {
                try skipUnlessCI("\(mpirun) is not Open MPI's")
            }
            guard let executable = Bundle.main.executablePath else { try skipUnlessCI("cannot locate the test binary") }

            let process = Process()
            process.executableURL = URL(fileURLWithPath: mpirun)
            // --oversubscribe: two ranks must start even on a one-core machine; root needs explicit permission.
            process.arguments =
                (getuid() == 0 ? ["--allow-run-as-root"] : [])
                + [
                    "--oversubscribe", "-np", "2", "-x", "\(Self.workerVariable)=1",
                    executable, "MGDistributedTests.TwoRankMPITests/testWorker"
                ]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            // Read while it runs so a full pipe cannot stall the workers.
            let output = OutputBox()
            let drained = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                output.data = pipe.fileHandleForReading.readDataToEndOfFile()
                drained.signal()
            }
            let deadline = Date().addingTimeInterval(Self.timeoutSeconds)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
            if process.isRunning { process.terminate() }  // a hung collective; mpirun forwards the signal to its ranks
            process.waitUntilExit()
            drained.wait()
            let log = String(decoding: output.data, as: UTF8.self)

            XCTAssertEqual(process.terminationStatus, 0, "mpirun failed:\n\(log)")
            for rank in 0..<2 {
                XCTAssertTrue(
                    log.contains("MGDistributed worker rank \(rank) of 2 ok"), "rank \(rank) did not finish:\n\(log)")
            }
        }

        func testWorker() throws {
            guard ProcessInfo.processInfo.environment[Self.workerVariable] != nil else {
                throw XCTSkip("runs only under mpirun, started by testTwoRanksUnderMpirun")
            }
            let comm = try MPICommunicator()
            do {
                XCTAssertEqual(comm.size, 2)
                try Self.checkCollectives(comm)
                // A second instance shares the initialized MPI; tiny pieces exercise the Int32 count splitting.
                try Self.checkCollectives(try MPICommunicator(library: comm.library, maxElementsPerCall: 3))
                try comm.barrier()
            } catch {
                // Leaving now would strand the other rank inside a collective; take the whole job down instead.
                print("MGDistributed worker rank \(comm.rank) failed: \(error)")
                comm.abort(code: 1)
            }
            print("MGDistributed worker rank \(comm.rank) of \(comm.size) ok")
            try comm.finalize()
        }

        /// Rank r contributes values derived from r, so every expected result has a closed form.
        private static func checkCollectives(_ comm: MPICommunicator) throws {
            let r = Float(comm.rank)

            var values: [Float] = (0..<11).map { Float($0) + 100 * r }
            try comm.allReduceSum(&values)
            XCTAssertEqual(values, (0..<11).map { 2 * Float($0) + 100 })

            var sums: [Double] = [Double(comm.rank) + 0.25, 1]
            try comm.allReduceSum(&sums)
            XCTAssertEqual(sums, [1.5, 2])
            var maxima: [Double] = [Double(comm.rank), -Double(comm.rank)]
            try comm.allReduceMax(&maxima)
            XCTAssertEqual(maxima, [1, 0])

            let sizes = [1, 7, 0, 13, 2, 64, 5, 3, 100, 9]
            var arrays = sizes.map { n in (0..<n).map { Float($0) + r } }
            try withBuffers(&arrays) {
                try comm.allReduceSum(buffers: $0, bucketBytes: 16 * MemoryLayout<Float>.stride)
            }
            XCTAssertEqual(arrays, sizes.map { n in (0..<n).map { 2 * Float($0) + 1 } })

            let chunk = 5
            let input: [Float] = (0..<(2 * chunk)).map { Float($0) * (r + 1) }
            let scattered = try comm.reduceScatterSum(input)
            XCTAssertEqual(scattered, (0..<chunk).map { Float(comm.rank * chunk + $0) * 3 })

            let gathered = try comm.allGather((0..<7).map { Float($0) + 10 * r })
            XCTAssertEqual(gathered, (0..<7).map { Float($0) } + (0..<7).map { Float($0) + 10 })

            for root in 0..<2 {
                var data = comm.rank == root ? Data((0..<(37 + root)).map { UInt8($0) }) : Data([9, 9])
                try comm.broadcast(&data, root: root)
                XCTAssertEqual(data, Data((0..<(37 + root)).map { UInt8($0) }))
            }
            var empty = comm.rank == 0 ? Data() : Data([1, 2, 3])
            try comm.broadcast(&empty, root: 0)
            XCTAssertEqual(empty, Data())
            try comm.barrier()
        }

        private final class OutputBox { var data = Data() }

        private static func output(of executable: String, _ arguments: [String]) throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }

        private static func findOnPath(_ name: String, path: String) -> String? {
            path.split(separator: ":").map { "\($0)/\(name)" }.first {
                FileManager.default.isExecutableFile(atPath: $0)
            }
        }
    }
#endif
