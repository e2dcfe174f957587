/// The page `GET /` serves (one file, no outside resources): placeholder until the full page lands.
enum WebPage {
    static let html = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>mgllava</title></head>
        <body><h1>mgllava serve</h1><p>POST /v1/chat/completions (OpenAI format).</p></body></html>
        """
}
