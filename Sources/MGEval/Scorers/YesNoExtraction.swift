// MGEval — the yes/no answer extraction of the POPE and MME scorers (SPEC §6.2). Followed: PhoenixZ810/MG-LLaVA's
// vendored `xtuner/dataset/evaluation/utils.py` (`YOrN_Extraction`, `process_punctuation`), which InternLM/xtuner's
// copy and VLMEvalKit's originals match.

/// What a free-form reply says: upstream's strings 'Yes', 'No' and 'Unknown' (MME compares them with its `answer`
/// column, which holds "Yes"/"No").
public enum YesNoAnswer: String, Codable, Sendable, CaseIterable {
    case yes = "Yes"
    case no = "No"
    case unknown = "Unknown"
}

/// Upstream's `YOrN_Extraction`: lower-case the reply, run the VQA punctuation step (marks next to a space, or all
/// marks when the text has a digit-comma-digit, are deleted; other marks become spaces; periods not followed by a
/// digit are deleted), split on whitespace, and look for the whole words "yes" and "no":
/// "yes" and not "no" → Yes; "no" and not "yes" → No; both or neither → Unknown.
///
/// Consequences worth knowing: "Yes." → Yes; "No, it is not." → No; "Yes, there is no dog." → Unknown (both);
/// "yes/no" → Unknown ('/' becomes a space); "Nope", "yeah", "not" and "" → Unknown; "yes:" → Unknown (':' is not
/// one of the marks, so the word is "yes:"); "yes'" likewise.
public enum YesNoExtraction {
    public static func extract(_ output: String) -> YesNoAnswer {
        let lowered = PyText.scalars(PyText.lower(output))
        let words = PyText.split(VQAPunctuation.process(lowered, commaTest: .singleCommaBetweenDigits))
        let yes = words.contains(PyText.scalars("yes"))
        let no = words.contains(PyText.scalars("no"))
        if yes && !no { return .yes }
        if no && !yes { return .no }
        return .unknown
    }
}
