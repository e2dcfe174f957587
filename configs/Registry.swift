// MGConfigs — one Swift file per upstream XTuner config (same base name, same subfolder), plus the tiny default.
@_exported import MGTrain
import MGEval

/// Every config this build knows, by name: what `mgllava configs list`, `--config NAME` and the tests see.
/// An explicit list (not reflection) so that adding a config file is a visible one-line change here.
public enum ConfigRegistry {
    /// All configs, in the order `mgllava configs list` prints them (each pretrain before its SFT).
    public static let all: [TrainConfig] = [
        tiny_pretrain,
        tiny_sft,
        tiny_sft_lora,
        fuse_more_vicuna7b_clip_L_14_336_pretrain_padding,
        fuse_more_vicuna7b_clip_L_14_336_sft_padding,
        fuse_more_vicuna7b_clip_L_14_336_sft_lora,
        fuse_more_vicuna7b_clip_L_14_336_sft_qlora,
        fuse_vicuna13b_clip_L_14_336_pretrain_padding,
        fuse_vicuna13b_clip_L_14_336_sft_padding,
        fuse_more_phi3_clip_L_14_336_pretrain_padding,
        fuse_more_phi3_clip_L_14_336_sft_padding,
        fuse_more_llama3_clip_L_14_336_pretrain_padding,
        fuse_more_llama3_clip_L_14_336_sft_padding,
        fuse_more_yi34B_clip_L_14_336_pretrain_padding,
        fuse_more_yi34B_clip_L_14_336_sft_padding
    ]

    /// Names of every config, in the order `mgllava configs list` prints them.
    public static let names: [String] = all.map(\.name)

    /// The config called `name`, or nil.
    public static func config(named name: String) -> TrainConfig? { all.first { $0.name == name } }

    /// Up to `limit` known names closest to `name` (edit distance, substrings first), for "did you mean" errors.
    public static func closeNames(to name: String, limit: Int = 3) -> [String] {
        let query = name.lowercased()
        let scored = names.map { candidate -> (String, Int) in
            let lower = candidate.lowercased()
            let bonus = (!query.isEmpty && lower.contains(query)) ? -1000 : 0
            return (candidate, editDistance(query, lower) + bonus)
        }
        return scored.sorted { $0.1 < $1.1 }.prefix(limit).map(\.0)
    }

    /// Levenshtein distance over characters.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for (i, ca) in a.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for (j, cb) in b.enumerated() {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (ca == cb ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
