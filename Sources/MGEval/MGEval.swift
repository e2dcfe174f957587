// MGEval — the evaluation side of MG-LLaVA (SPEC §6). Model-free pieces so far: reading VLMEvalKit-style TSVs
// (TSVTable), the multiple-choice datasets and their prompts (MultipleChoiceDataset), answer extraction and
// circular scoring (MultipleChoiceScorer) and the results files (MultipleChoiceResults).
import MGLLaVA

/// The module's name, for diagnostics and for checking that the target links.
public enum MGEvalModule {
    public static let name = "MGEval"
}
