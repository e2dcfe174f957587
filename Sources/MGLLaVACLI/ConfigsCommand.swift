import ArgumentParser
import MGConfigs

/// `mgllava configs list|dump`: the experiment configs built into this binary (DESIGN §5), so a run can be
/// inspected, patched and saved as a `--config-file` without rebuilding.
struct ConfigsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "configs",
        abstract: "List the built-in experiment configs or print one as JSON.",
        subcommands: [List.self, Dump.self])

    /// `configs list`: one name per line, in registry order.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the name of every built-in config.")

        func run() {
            for name in ConfigRegistry.names { print(name) }
        }
    }

    /// `configs dump NAME [--set k=v …]`: the config as pretty JSON with sorted keys (a valid `--config-file`).
    struct Dump: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a config as JSON (keys are the upstream XTuner variable names).")

        @Argument(help: "Config name (see `mgllava configs list`).")
        var name: String

        @Option(name: .customLong("set"), help: "Patch a value: key.path=value (repeatable, type-checked).")
        var sets: [String] = []

        func run() throws {
            guard let base = ConfigRegistry.config(named: name) else {
                let close = ConfigRegistry.closeNames(to: name).joined(separator: ", ")
                throw UnknownConfig(message: "unknown config \"\(name)\" (close: \(close); see `mgllava configs list`)")
            }
            let config = try base.applying(sets)
            try config.validate()
            print(try config.jsonString())
        }
    }
}

/// A config name that is not built in; thrown as a plain error so that ArgumentParser does not print the usage.
struct UnknownConfig: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
