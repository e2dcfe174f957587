// MGConfigs — one Swift file per upstream XTuner config (same base name), filled by the training issue.
import MGTrain
import MGEval

public enum ConfigRegistry {
    /// Names of every config, in the order `mgllava configs list` prints them.
    public static let names: [String] = []
}
