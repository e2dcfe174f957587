import Foundation
import MGEval
import XCTest

/// The model-free scorers of POPE, MME, TextVQA, GQA and VQAv2 (SPEC §6.2). Every expectation is worked out by
/// hand in the comments next to it, following upstream's rules (MG-LLaVA's vendored xtuner `utils.py`,
/// `pope_dataset.py`, `mme_dataset.py`, `textvqa_utils.py`, and `mg_llava/evaluation/{m4c_evaluator,eval_gqa,
/// gqa_llava_eval_dataset,vqav2_llava_eval_dataset}.py`); the string cases were also checked against those Python
/// functions.
final class ScorerTests: XCTestCase {
    // MARK: Yes/no extraction

    func testYesNoExtraction() {
        let cases: [(String, YesNoAnswer)] = [
            ("Yes", .yes),
            ("YES!", .yes),  // '!' → ' ', words ["yes"]
            ("Yes.", .yes),  // a period not followed by a digit is deleted
            ("(yes)", .yes),  // '(' and ')' become spaces
            ("<b>yes</b>", .yes),  // "<b>yes</b>" → " b yes  b " → words b, yes, b
            ("no", .no),
            ("No, it is not.", .no),  // ", " present → ',' deleted; "not" is not "no"
            ("no, it is not", .no),
            ("[no]", .no),
            ("The answer is no.", .no),
            ("Yes, there is no dog.", .unknown),  // both words
            ("yes/no", .unknown),  // '/' → ' ': both words
            ("yes,no", .unknown),  // ',' → ' ' (no space next to it): both words
            ("Nope", .unknown),
            ("yeah", .unknown),
            ("", .unknown),
            ("   ", .unknown),
            ("yes:", .unknown),  // ':' is not one of the marks, so the word is "yes:"
            ("yesterday", .unknown),  // whole words only
            ("1,2 yes", .yes)  // digit-comma-digit: marks deleted, not spaced → "12 yes"
        ]
        for (reply, expected) in cases {
            XCTAssertEqual(YesNoExtraction.extract(reply), expected, "reply \(reply.debugDescription)")
        }
    }

    // MARK: POPE

    func testPOPEPerSplitMetricsAndMeanF1() throws {
        let samples = [
            // Split A: TP (yes/"Yes."), FN (yes/"no"), FP (no/"Yes, it is"), TN (no/"maybe": Unknown counts as no).
            POPESample(questionID: "1", split: "coco_pope_random", label: "yes", prediction: "Yes."),
            POPESample(questionID: "2", split: "coco_pope_random", label: "yes", prediction: "no"),
            POPESample(questionID: "3", split: "coco_pope_random", label: "no", prediction: "Yes, it is"),
            POPESample(questionID: "4", split: "coco_pope_random", label: "no", prediction: "maybe"),
            // Split B: TP, TP, FN ("No, there is no cat."), TN.
            POPESample(questionID: "1", split: "coco_pope_popular", label: "yes", prediction: "YES"),
            POPESample(questionID: "2", split: "coco_pope_popular", label: "yes", prediction: "yes"),
            POPESample(questionID: "3", split: "coco_pope_popular", label: "yes", prediction: "No, there is no cat."),
            POPESample(questionID: "4", split: "coco_pope_popular", label: "no", prediction: "No")
        ]
        let scores = try POPEScorer.evaluate(samples)
        XCTAssertEqual(scores.splits.map(\.split), ["coco_pope_random", "coco_pope_popular"])  // first appearance

        // A: TP 1, FP 1, TN 1, FN 1 → accuracy 2/4, precision 1/2, recall 1/2, F1 2·½·½/(½+½) = ½,
        // yes ratio 2/4.
        let a = try XCTUnwrap(scores["coco_pope_random"])
        XCTAssertEqual([a.truePositives, a.falsePositives, a.trueNegatives, a.falseNegatives], [1, 1, 1, 1])
        XCTAssertEqual(a.count, 4)
        XCTAssertEqual(a.accuracy, 0.5)
        XCTAssertEqual(a.precision, 0.5)
        XCTAssertEqual(a.recall, 0.5)
        XCTAssertEqual(a.f1, 0.5)
        XCTAssertEqual(a.yesRatio, 0.5)

        // B: TP 2, FP 0, TN 1, FN 1 → accuracy 3/4, precision 2/2 = 1, recall 2/3,
        // F1 = 2·1·(2/3) / (1 + 2/3) = (4/3)/(5/3) = 0.8, yes ratio 2/4.
        let b = try XCTUnwrap(scores["coco_pope_popular"])
        XCTAssertEqual([b.truePositives, b.falsePositives, b.trueNegatives, b.falseNegatives], [2, 0, 1, 1])
        XCTAssertEqual(b.accuracy, 0.75)
        XCTAssertEqual(b.precision, 1)
        XCTAssertEqual(try XCTUnwrap(b.recall), 2.0 / 3.0, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(b.f1), 0.8, accuracy: 1e-15)
        XCTAssertEqual(b.yesRatio, 0.5)

        // Returned score: mean F1 = (0.5 + 0.8) / 2 = 0.65.
        XCTAssertEqual(try XCTUnwrap(scores.score), 0.65, accuracy: 1e-15)
    }

    func testPOPEUndefinedF1IsNil() throws {
        // Only "no" labels and only "no" replies: TP + FP = 0 and TP + FN = 0 (upstream: ZeroDivisionError).
        let scores = try POPEScorer.evaluate([
            POPESample(questionID: "1", split: "s", label: "no", prediction: "No."),
            POPESample(questionID: "2", split: "s", label: "no", prediction: "no")
        ])
        let split = try XCTUnwrap(scores["s"])
        XCTAssertEqual(split.accuracy, 1)
        XCTAssertEqual(split.yesRatio, 0)
        XCTAssertNil(split.precision)
        XCTAssertNil(split.recall)
        XCTAssertNil(split.f1)
        XCTAssertNil(scores.score)
    }

    func testPOPEErrors() {
        XCTAssertThrowsError(try POPEScorer.evaluate([])) { error in
            XCTAssertEqual(error as? ScorerError, .emptyInput(benchmark: "POPE", detail: "no questions"))
        }
        XCTAssertThrowsError(
            try POPEScorer.evaluate([
                POPESample(questionID: "7", split: "s", label: "Yes", prediction: "yes")
            ])
        ) { error in
            XCTAssertEqual(
                error as? ScorerError,
                .unknownLabel(benchmark: "POPE", questionID: "7", label: "Yes", expected: ["yes", "no"]))
            XCTAssertTrue("\(error)".contains("question 7"))
        }
        XCTAssertThrowsError(
            try POPEScorer.evaluate([
                POPESample(questionID: "1", split: "s", label: "yes", prediction: "yes"),
                POPESample(questionID: "42", split: "s", label: "no", prediction: nil)
            ])
        ) { error in
            XCTAssertEqual(error as? ScorerError, .missingPrediction(benchmark: "POPE", questionID: "42"))
            XCTAssertEqual("\(error)", "POPE: no prediction for question 42")
        }
    }

    // MARK: EvalAI answer normalisation

    func testEvalAINormalization() {
        let cases: [(String, String)] = [
            ("Yes.", "yes"),  // lower-case, final period deleted
            ("The two dogs", "2 dogs"),  // number word → digit, article dropped
            ("a", ""),  // an article alone leaves nothing
            ("the the the", ""),
            ("an apple", "apple"),
            ("None", "0"),  // "none" is in the number map
            ("Ten.", "10"),
            ("twenty", "twenty"),  // the map stops at ten
            ("dont", "don't"),  // contractions map
            ("Dont", "don't"),
            ("isnt", "isn't"),
            ("twas", "'twas"),
            ("Im", "im"),  // upstream's key "Im" is capitalised and never matches
            ("somebody'd", "somebodyd"),  // upstream's map really goes this way
            ("it's", "it 's"),  // "'s" → " 's" before splitting
            ("what's that?", "what 's that"),  // '?' deleted
            ("O'Neil's", "o'neil 's"),  // an apostrophe is no mark
            ("3.5", "3.5"),  // a period before a digit stays
            ("3.", "3"),
            ("1..5", "1.5"),  // the first '.' is followed by '.', the second by '5'
            ("a.b.c", "abc"),
            ("e.g.", "eg"),
            ("1,000", "1000"),  // commas deleted in word_tokenize
            ("3,5 apples", "35 apples"),
            ("Coca-Cola", "coca cola"),  // '-' with no space beside it → ' '
            ("coca - cola", "coca cola"),  // ' -' present → '-' deleted, spaces collapse in the split
            ("-5", "5"),
            ("1/2", "1 2"),
            ("N/A", "n"),  // "n a": "a" is an article
            ("yes;no", "yes no"),
            ("no; yes", "no yes"),  // "; " present → ';' deleted
            ("(yes)", "yes"),
            ("#1", "#1"),  // '#' is no mark
            ("hello\tworld\nfoo", "hello world foo"),
            ("  spaced   out  ", "spaced out"),
            ("a\u{A0}b", "b"),  // NBSP separates words in Python's split(); "a" then drops
            ("Ünïcode Straße", "ünïcode straße"),
            ("ΣΑΣ", "σας")  // Python's lower() writes a word-final sigma as ς
        ]
        for (answer, expected) in cases {
            XCTAssertEqual(EvalAIAnswerProcessor.normalize(answer), expected, "answer \(answer.debugDescription)")
        }
    }

    func testEvalAIPeriodStripStopsAfter32() {
        // `PERIOD_STRIP.sub("", text, re.UNICODE)`: re.UNICODE (32) is the count, so 40 periods leave 8.
        let answer = "x" + String(repeating: ".", count: 40) + "y"
        XCTAssertEqual(EvalAIAnswerProcessor.normalize(answer), "x" + String(repeating: ".", count: 8) + "y")
    }

    // MARK: VQA soft accuracy (TextVQA)

    private let colours = ["red", "red", "Red.", "blue", "blue", "a dog", "green", "green", "green", "green"]

    func testVQASoftAccuracy() throws {
        // Normalised references: red ×3, blue ×2, dog ×1, green ×4.
        // k equal references → (k·min(1, (k−1)/3) + (10−k)·min(1, k/3)) / 10:
        //   red   k=3: (3·2/3 + 7·1) / 10 = 9/10 = 0.9
        //   blue  k=2: (2·1/3 + 8·2/3) / 10 = 6/10 = 0.6
        //   dog   k=1: (1·0 + 9·1/3) / 10 = 3/10 = 0.3
        //   green k=4: (4·1 + 6·1) / 10 = 1
        let scores = VQAAccuracy.answerScores(colours)
        XCTAssertEqual(Set(scores.keys), ["red", "blue", "dog", "green"])
        XCTAssertEqual(try XCTUnwrap(scores["red"]), 0.9, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(scores["blue"]), 0.6, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(scores["dog"]), 0.3, accuracy: 1e-15)
        XCTAssertEqual(scores["green"], 1)

        XCTAssertEqual(VQAAccuracy.score(prediction: "RED", groundTruth: colours), 0.9, accuracy: 1e-15)
        XCTAssertEqual(VQAAccuracy.score(prediction: "The dog.", groundTruth: colours), 0.3, accuracy: 1e-15)
        XCTAssertEqual(VQAAccuracy.score(prediction: "yellow", groundTruth: colours), 0)
        XCTAssertEqual(VQAAccuracy.score(prediction: "", groundTruth: colours), 0)

        // Mean over four questions: (0.9 + 0.6 + 0 + 1) / 4 = 0.625; upstream returns 62.5 (percent).
        let result = try VQAAccuracy.evaluate([
            VQAAccuracyEntry(questionID: "q1", prediction: "a red", groundTruth: colours),
            VQAAccuracyEntry(questionID: "q2", prediction: "Blue", groundTruth: colours),
            VQAAccuracyEntry(questionID: "q3", prediction: "yellow", groundTruth: colours),
            VQAAccuracyEntry(questionID: "q4", prediction: "green.", groundTruth: colours)
        ])
        XCTAssertEqual(result.perQuestion.count, 4)
        XCTAssertEqual(result.perQuestion[2], 0)
        XCTAssertEqual(result.perQuestion[3], 1)
        XCTAssertEqual(result.accuracy, 0.625, accuracy: 1e-15)
        XCTAssertEqual(result.percent, 62.5, accuracy: 1e-13)
    }

    func testVQAAccuracyNumbersAndContractions() {
        // "two" and "2" normalise alike, as do "dont" and "don't": 4 equal references each → 1.
        let references = ["two", "2", "Two.", "2", "dont", "don't", "Dont", "don't", "3", "three"]
        XCTAssertEqual(VQAAccuracy.score(prediction: "2", groundTruth: references), 1)
        XCTAssertEqual(VQAAccuracy.score(prediction: "Don't.", groundTruth: references), 1)
        // "3" ×2 → 0.6.
        XCTAssertEqual(VQAAccuracy.score(prediction: "Three", groundTruth: references), 0.6, accuracy: 1e-15)
    }

    func testVQAAccuracyErrors() {
        XCTAssertThrowsError(try VQAAccuracy.evaluate([])) { error in
            XCTAssertEqual(error as? ScorerError, .emptyInput(benchmark: "TextVQA", detail: "no questions"))
        }
        XCTAssertThrowsError(
            try VQAAccuracy.evaluate([
                VQAAccuracyEntry(questionID: "abc", prediction: "x", groundTruth: ["x", "x"])
            ])
        ) { error in
            XCTAssertEqual(
                error as? ScorerError,
                .wrongAnswerCount(benchmark: "TextVQA", questionID: "abc", count: 2, expected: 10))
        }
    }

    func testTextVQAPromptProcessor() {
        let suffix = "Answer the question using a single word or phrase."
        // MG-LLaVA's file: question, OCR reference line, instruction → 3 lines, not starting with the reference.
        XCTAssertEqual(
            TextVQAMatching.question(fromPrompt: "What Brand Is This?\nReference OCR token: Nikon\n" + suffix),
            "what brand is this?")
        XCTAssertEqual(
            TextVQAMatching.question(fromPrompt: "Reference OCR token: Nikon\nWhat brand?\n" + suffix),
            "what brand?")
        XCTAssertEqual(
            TextVQAMatching.question(fromPrompt: "OCR tokens: a b Question: What is it? Short answer:"),
            "what is it?")
        XCTAssertEqual(TextVQAMatching.question(fromPrompt: "What is it?\n" + suffix), "what is it?")
        XCTAssertNil(TextVQAMatching.question(fromPrompt: "What is it?"))  // 1 line: assert False
        XCTAssertNil(TextVQAMatching.question(fromPrompt: "OCR tokens: a b What is it?"))  // no match
        // "\r\n" is one Swift Character but two Python code points: the split is on '\n' alone.
        XCTAssertEqual(TextVQAMatching.question(fromPrompt: "Why?\r\n" + suffix), "why?\r")
    }

    func testTextVQAPairing() throws {
        let json = """
            {"dataset_name": "textvqa", "data": [
              {"image_id": "003a8ae2ef43b901", "question": "What Brand is this?", "answers": \(colours)},
              {"image_id": "00b6e4b9a2f8b5e1", "question": "what is written?", "answers": ["stop", "stop", "stop",
                "stop", "stop", "stop", "stop", "stop", "stop", "Stop."]}
            ]}
            """
        let annotations = try TextVQAMatching.parseAnnotations(Data(json.utf8))
        XCTAssertEqual(annotations.count, 2)
        let suffix = "\nReference OCR token: x\nAnswer the question using a single word or phrase."
        let entries = try TextVQAMatching.entries(
            results: [
                ("00b6e4b9a2f8b5e1", "What is written?" + suffix, "STOP"),
                ("003a8ae2ef43b901", "What brand is this?" + suffix, "blue")
            ], annotations: annotations)
        XCTAssertEqual(entries.map(\.questionID), ["00b6e4b9a2f8b5e1", "003a8ae2ef43b901"])
        // stop: all 10 match → 1; blue: 0.6 (see testVQASoftAccuracy). Mean 0.8.
        let result = try VQAAccuracy.evaluate(entries)
        XCTAssertEqual(result.accuracy, 0.8, accuracy: 1e-15)

        XCTAssertThrowsError(
            try TextVQAMatching.entries(
                results: [("nope", "What is written?" + suffix, "x")],
                annotations: annotations)
        ) { error in
            guard case .missingAnnotation(_, let id, _)? = error as? ScorerError else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertEqual(id, "nope")
        }
        XCTAssertThrowsError(
            try TextVQAMatching.entries(
                results: [("q9", "one line", "x")],
                annotations: annotations)
        ) { error in
            XCTAssertEqual(
                error as? ScorerError,
                .unrecognizedPrompt(benchmark: "TextVQA", questionID: "q9", prompt: "one line"))
        }
        XCTAssertThrowsError(try TextVQAMatching.parseAnnotations(Data("[1]".utf8)))
    }

    // MARK: GQA

    func testGQAPredictionNormalization() {
        XCTAssertEqual(GQAScorer.normalizePrediction("Yes."), "yes")
        XCTAssertEqual(GQAScorer.normalizePrediction("Left.."), "left")  // rstrip('.') takes every final '.'
        XCTAssertEqual(GQAScorer.normalizePrediction("No. "), "no. ")  // but not past a space
        XCTAssertEqual(GQAScorer.normalizePrediction("U.S."), "u.s")
        XCTAssertEqual(GQAScorer.normalizePrediction("The Table"), "the table")  // no article or number rules
        XCTAssertEqual(GQAScorer.predictions([("1", "A."), ("2", "b"), ("1", "C")]), ["1": "c", "2": "b"])
    }

    private func gqaQuestions() -> [GQAQuestion] {
        [
            // query (open), 4 words; steps: "select: table", "relate: on,s" count, "query: name" does not → 2.
            GQAQuestion(
                id: "1", question: "What is on table?", answer: "table", structuralType: "query",
                semanticType: "rel",
                semantic: [
                    GQAOperation(operation: "select", argument: "table"),
                    GQAOperation(operation: "relate", argument: "on,s"),
                    GQAOperation(operation: "query", argument: "name")
                ],
                globalGroup: "furniture"),
            // verify (binary), 3 words; "exist: ?" is skipped → 1 step.
            GQAQuestion(
                id: "2", question: "Is there milk?", answer: "yes", structuralType: "verify",
                semanticType: "obj",
                semantic: [
                    GQAOperation(operation: "select", argument: "milk"),
                    GQAOperation(operation: "exist", argument: "?")
                ],
                globalGroup: "yesno"),
            // logical (binary), 5 words; 1 step.
            GQAQuestion(
                id: "3", question: "Are there cats or dogs?", answer: "no", structuralType: "logical",
                semanticType: "obj", semantic: [GQAOperation(operation: "select", argument: "cat")],
                globalGroup: "yesno"),
            // Not balanced: never scored, needs no prediction.
            GQAQuestion(
                id: "4", question: "Unscored?", answer: "x", isBalanced: false, structuralType: "query",
                semanticType: "attr")
        ]
    }

    func testGQAAccuracyAndBreakdowns() throws {
        let predictions = GQAScorer.predictions([("1", "Table."), ("2", "No"), ("3", "no")])
        let scores = try GQAScorer.evaluate(questions: gqaQuestions(), predictions: predictions)
        // Right: 1 ("table"), 3 ("no"); wrong: 2 ("no" ≠ "yes"). Accuracy 2/3; open (query) 1/1; binary 1/2.
        XCTAssertEqual(scores.count, 3)
        XCTAssertEqual(scores.accuracy, 200.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(scores.open, 100)
        XCTAssertEqual(scores.binary, 50)
        XCTAssertEqual(
            scores.perStructuralType,
            [
                GQAGroupScore(name: "logical", accuracy: 100, count: 1),
                GQAGroupScore(name: "query", accuracy: 100, count: 1),
                GQAGroupScore(name: "verify", accuracy: 0, count: 1)
            ])
        XCTAssertEqual(
            scores.perSemanticType,
            [
                GQAGroupScore(name: "obj", accuracy: 50, count: 2),
                GQAGroupScore(name: "rel", accuracy: 100, count: 1)
            ])
        XCTAssertEqual(
            scores.perSteps,
            [
                GQAGroupScore(name: "1", accuracy: 50, count: 2),
                GQAGroupScore(name: "2", accuracy: 100, count: 1)
            ])
        XCTAssertEqual(scores.perLength.map(\.name), ["3", "4", "5"])
        // Distribution: group "furniture": gold {table: 1}, predicted {table: 1} → 0, weight 1.
        // Group "yesno": gold {yes: 1, no: 1}, predicted {no: 2} → (0−1)²/1 + (2−1)²/1 = 2, weight 2.
        // (0·1 + 2·2) / (1 + 2) = 4/3, then / 100.
        XCTAssertEqual(try XCTUnwrap(scores.distribution), 4.0 / 3.0 / 100, accuracy: 1e-15)
    }

    func testGQAMissingPredictions() throws {
        XCTAssertThrowsError(try GQAScorer.evaluate(questions: gqaQuestions(), predictions: ["1": "table"])) { error in
            XCTAssertEqual(error as? ScorerError, .missingPrediction(benchmark: "GQA", questionID: "2"))
        }
        // Partial runs: only the answered balanced question counts.
        let partial = try GQAScorer.evaluate(
            questions: gqaQuestions(), predictions: ["1": "table"],
            requireAllPredictions: false)
        XCTAssertEqual(partial.count, 1)
        XCTAssertEqual(partial.accuracy, 100)
        XCTAssertEqual(partial.binary, 0)  // upstream's avg of an empty list is 0
        XCTAssertThrowsError(
            try GQAScorer.evaluate(
                questions: gqaQuestions(), predictions: [:],
                requireAllPredictions: false)
        ) { error in
            guard case .emptyInput? = error as? ScorerError else { return XCTFail("unexpected \(error)") }
        }
    }

    func testGQAParseQuestions() throws {
        let json = """
            {"202": {"question": "Is it red?", "answer": "no", "isBalanced": true,
                     "types": {"structural": "verify", "semantic": "attr", "detailed": "verifyAttr"},
                     "semantic": [{"operation": "select", "argument": "car (1)", "dependencies": []},
                                  {"operation": "verify color", "argument": "red", "dependencies": [0]}],
                     "groups": {"global": null, "local": "06-car_red"}},
             "101": {"question": "Which?", "answer": "left", "isBalanced": false, "types": {}, "groups": {}}}
            """
        let questions = try GQAScorer.parseQuestions(Data(json.utf8))
        XCTAssertEqual(questions.map(\.id), ["101", "202"])
        XCTAssertFalse(questions[0].isBalanced)
        XCTAssertEqual(questions[1].structuralType, "verify")
        XCTAssertEqual(questions[1].semantic.count, 2)
        XCTAssertNil(questions[1].globalGroup)
        XCTAssertEqual(GQAScorer.stepCount(questions[1]), 2)
        XCTAssertEqual(GQAScorer.wordCount(questions[1]), 3)
        let scores = try GQAScorer.evaluate(questions: questions, predictions: ["202": "no"])
        XCTAssertEqual(scores.accuracy, 100)
        XCTAssertNil(scores.distribution)  // no global group: upstream divides by zero
        XCTAssertThrowsError(try GQAScorer.parseQuestions(Data(#"{"1": {"isBalanced": true}}"#.utf8)))
    }

    // MARK: VQAv2 upload

    func testVQAv2Submission() throws {
        // Split order 3, 1, 2; 2 unanswered → ""; 99 is not in the split → dropped.
        let submission = try VQAv2Submission(
            testQuestionIDs: [3, 1, 2],
            predictions: [1: "Two", 3: "Yes.", 99: "whatever"])
        XCTAssertEqual(
            submission.entries,
            [
                VQAv2Submission.Entry(questionID: 3, answer: "yes"),
                VQAv2Submission.Entry(questionID: 1, answer: "2"),
                VQAv2Submission.Entry(questionID: 2, answer: "")
            ])
        XCTAssertEqual(submission.unanswered, [2])
        XCTAssertEqual(submission.unused, [99])
        XCTAssertEqual(
            String(decoding: submission.jsonData, as: UTF8.self),
            #"[{"question_id": 3, "answer": "yes"}, {"question_id": 1, "answer": "2"}, "#
                + #"{"question_id": 2, "answer": ""}]"#)
    }

    func testVQAv2SubmissionEscapesLikePython() throws {
        // `café "x" 😀`: ' "' is present, so '"' is deleted → "café x 😀"; json.dump escapes non-ASCII.
        let submission = try VQAv2Submission(testQuestionIDs: ["5"], predictions: ["5": "Café \"x\" 😀"])
        XCTAssertEqual(
            String(decoding: submission.jsonData, as: UTF8.self),
            #"[{"question_id": 5, "answer": "caf\u00e9 x \ud83d\ude00"}]"#)
        XCTAssertThrowsError(try VQAv2Submission(testQuestionIDs: ["abc"], predictions: [:])) { error in
            XCTAssertEqual(error as? ScorerError, .invalidQuestionID(benchmark: "VQAv2", questionID: "abc"))
        }
        XCTAssertThrowsError(try VQAv2Submission(testQuestionIDs: [Int](), predictions: [:]))
    }

    // MARK: MME

    func testMMECategoryScores() throws {
        let samples = [
            // Given out of order: scoring goes by index.
            MMESample(index: 3, category: "existence", imagePath: "e/2.jpg", answer: "No", prediction: "No"),
            MMESample(index: 0, category: "existence", imagePath: "e/1.jpg", answer: "Yes", prediction: "Yes"),
            MMESample(
                index: 1, category: "existence", imagePath: "e/1.jpg", answer: "No",
                prediction: "No, there is not."),
            MMESample(index: 2, category: "existence", imagePath: "e/2.jpg", answer: "Yes", prediction: "no"),
            MMESample(index: 4, category: "OCR", imagePath: "o/1.jpg", answer: "Yes", prediction: "maybe"),
            MMESample(index: 5, category: "OCR", imagePath: "o/1.jpg", answer: "No", prediction: "No.")
        ]
        let scores = try MMEScorer.evaluate(samples)
        XCTAssertEqual(scores.categories.map(\.category), ["existence", "OCR"])
        // existence: right 0, 1, 3; wrong 2 → accuracy 3/4 = 75; images e/1 both right, e/2 not → 1/2 = 50; 125.
        XCTAssertEqual(
            scores["existence"],
            MMECategoryScore(
                category: "existence", accuracy: 75, accuracyPlus: 50,
                score: 125, questions: 4, images: 2))
        // OCR: "maybe" is Unknown (wrong), "No." right → 50; the image is not fully right → 0; score 50.
        XCTAssertEqual(
            scores["OCR"],
            MMECategoryScore(
                category: "OCR", accuracy: 50, accuracyPlus: 0, score: 50,
                questions: 2, images: 1))
        XCTAssertEqual(scores.extracted[4], .unknown)
        XCTAssertEqual(scores.extracted[1], .no)
        // Most categories are absent: upstream would raise KeyError building the totals.
        XCTAssertNil(scores.perception)
        XCTAssertNil(scores.reasoning)
    }

    func testMMETotals() throws {
        var samples: [MMESample] = []
        var index = 0
        for category in MMEScorer.perceptionCategories + MMEScorer.reasoningCategories {
            // One image per category, both questions right → 100 + 100 = 200 each,
            // except "count", whose second question is wrong → 50 + 0 = 50.
            for answer in ["Yes", "No"] {
                let reply = category == "count" && answer == "No" ? "Yes" : answer + "."
                samples.append(
                    MMESample(
                        index: index, category: category, imagePath: "\(category).jpg",
                        answer: answer, prediction: reply))
                index += 1
            }
        }
        let scores = try MMEScorer.evaluate(samples)
        XCTAssertEqual(scores["count"]?.score, 50)
        XCTAssertEqual(scores.perception, 9 * 200 + 50)  // 1850
        XCTAssertEqual(scores.reasoning, 4 * 200)  // 800
    }

    func testMMEErrors() {
        XCTAssertThrowsError(
            try MMEScorer.evaluate([
                MMESample(index: 8, category: "scene", imagePath: "s.jpg", answer: "yes", prediction: "yes")
            ])
        ) { error in
            XCTAssertEqual(
                error as? ScorerError,
                .unknownLabel(benchmark: "MME", questionID: "8", label: "yes", expected: ["Yes", "No"]))
        }
        XCTAssertThrowsError(
            try MMEScorer.evaluate([
                MMESample(index: 8, category: "scene", imagePath: "s.jpg", answer: "Yes", prediction: nil)
            ])
        ) { error in
            XCTAssertEqual(error as? ScorerError, .missingPrediction(benchmark: "MME", questionID: "8"))
        }
        XCTAssertThrowsError(
            try MMEScorer.evaluate([
                MMESample(index: 8, category: "scene", imagePath: "s.jpg", answer: "Yes", prediction: "yes")
            ])
        ) { error in
            XCTAssertEqual(
                error as? ScorerError,
                .unpairedImage(benchmark: "MME", category: "scene", image: "s.jpg", questionIDs: ["8"]))
        }
        XCTAssertThrowsError(
            try MMEScorer.evaluate([
                MMESample(index: 8, category: "scene", imagePath: "s.jpg", answer: "Yes", prediction: "yes"),
                MMESample(index: 8, category: "scene", imagePath: "s.jpg", answer: "No", prediction: "no")
            ])
        ) { error in
            XCTAssertEqual(error as? ScorerError, .duplicateQuestion(benchmark: "MME", questionID: "8"))
        }
        XCTAssertThrowsError(try MMEScorer.evaluate([])) { error in
            XCTAssertEqual(error as? ScorerError, .emptyInput(benchmark: "MME", detail: "no questions"))
        }
    }
}
