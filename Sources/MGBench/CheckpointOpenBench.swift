import Foundation
import MGLLaVA

/// `mgllava bench checkpoint-open DIR`: shows that opening a sharded multi-GB checkpoint reads only the headers —
/// the time to open it and read every header, and the resident memory that adds, against the checkpoint's size;
/// then one tensor read in full, to show reads are per tensor. (Run it as its own process after
/// `RandomCheckpoints.writeSharded`, so that the generation's memory does not blur the resident-set figures.)
public enum CheckpointOpenBench {
    /// What opening the checkpoint cost.
    public struct Result: Equatable, Sendable {
        public var shards: Int
        public var tensors: Int
        /// Bytes of tensor data in the checkpoint.
        public var bytes: Int
        public var openSeconds: Double
        /// Resident set size growth from opening and reading every header.
        public var openRSSGrowth: Int
        /// The tensor read in full, its shape, its float32 byte count, time and resident growth.
        public var firstKey: String
        public var firstShape: [Int]
        public var firstFloat32Bytes: Int
        public var readSeconds: Double
        public var readRSSGrowth: Int

        /// The printed lines: size, open cost, one-tensor read.
        public var report: String {
            [
                "checkpoint: \(shards) shards, \(tensors) tensors, "
                    + String(format: "%.2f GiB of tensor data", Double(bytes) / 1_073_741_824),
                String(
                    format: "open + every header: %@; resident memory +%.1f MiB (%.4f%% of the data)",
                    BenchTiming.format(seconds: openSeconds), Double(openRSSGrowth) / 1_048_576,
                    100 * Double(openRSSGrowth) / Double(bytes)),
                String(
                    format: "read one tensor %@ %@ (%.0f MiB as f32): %@; resident +%.1f MiB", firstKey,
                    "\(firstShape)", Double(firstFloat32Bytes) / 1_048_576, BenchTiming.format(seconds: readSeconds),
                    Double(readRSSGrowth) / 1_048_576)
            ].joined(separator: "\n")
        }
    }

    /// Opens the checkpoint in `dir`, reads every tensor's header, then widens the first tensor to float32.
    public static func measure(_ dir: URL) throws -> Result {
        let rssBefore = ResidentMemory.current()
        let t0 = BenchTiming.now()
        let checkpoint = try ShardedSafeTensors.open(dir)
        var bytes = 0
        for key in checkpoint.keys { bytes += try checkpoint.info(for: key).byteCount }
        let tOpen = BenchTiming.now() - t0
        let rssOpen = ResidentMemory.current()
        // Touch one tensor fully (widen to f32) to show reads are per tensor.
        let first = checkpoint.keys[0]
        let t1 = BenchTiming.now()
        let widened = try checkpoint.tensor(first).float()
        let tOne = BenchTiming.now() - t1
        let rssOne = ResidentMemory.current()
        return Result(
            shards: checkpoint.shardNames.count, tensors: checkpoint.keys.count, bytes: bytes,
            openSeconds: tOpen, openRSSGrowth: rssOpen - rssBefore, firstKey: first,
            firstShape: widened.shape, firstFloat32Bytes: widened.count * 4, readSeconds: tOne,
            readRSSGrowth: rssOne - rssOpen)
    }
}
