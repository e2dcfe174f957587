import ArgumentParser
import MGLLaVA

@main
struct MGLLaVACommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mgllava",
        abstract: "Train, run and evaluate MG-LLaVA (multi-granularity vision-language model) without Python.",
        subcommands: [
            TrainCommand.self, EvalCommand.self, DataCommand.self, DemoCommand.self, ChatCommand.self,
            InspectCommand.self, ConvertCommand.self, TokenizeCommand.self, FeaturesCommand.self, BenchCommand.self,
            ConfigsCommand.self, BoxesCommand.self, QuantizeCommand.self, ServeCommand.self
        ])
}
