import ArgumentParser
import Foundation
import MGConfigs
import MGTrain

/// `--config NAME | --config-file FILE` plus `--set key=value` patches: how every command that runs a config
/// chooses it (train, data process, eval).
struct ConfigSelection: ParsableArguments {
    @Option(help: "Built-in config name (see `mgllava configs list`); default: the command's embedded tiny config.")
    var config: String?

    @Option(help: "A full config as JSON (e.g. from `mgllava configs dump`), instead of --config.")
    var configFile: String?

    @Option(name: .customLong("set"), help: "Patch a value: key=value (repeatable, type-checked).")
    var sets: [String] = []

    func validate() throws {
        if config != nil && configFile != nil { throw ValidationError("give --config or --config-file, not both") }
    }

    /// The chosen config (`defaultName` when neither option is given) with the patches and `extra` applied.
    func load(defaultName: String, extra: [String] = []) throws -> TrainConfig {
        let base: TrainConfig
        if let configFile {
            base = try TrainConfig.load(jsonFile: URL(fileURLWithPath: configFile))
        } else {
            let name = config ?? defaultName
            guard let found = ConfigRegistry.config(named: name) else {
                let close = ConfigRegistry.closeNames(to: name).joined(separator: ", ")
                throw UnknownConfig(message: "unknown config \"\(name)\" (close: \(close); see `mgllava configs list`)")
            }
            base = found
        }
        return try base.applying(sets + extra)
    }
}
