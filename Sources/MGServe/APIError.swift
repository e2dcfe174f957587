import Foundation

/// An error as the OpenAI API and llama.cpp's server return it: an HTTP status and
/// `{"error":{"code":…,"message":…,"type":…}}`.
public struct APIError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The HTTP status code (400, 401, 404, 413, 500, 503).
    public var status: Int
    /// OpenAI's `type`: invalid_request_error, authentication_error, not_found_error, server_error, unavailable_error.
    public var type: String
    public var message: String
    /// Seconds a client should wait before retrying (503 only), sent as `Retry-After`.
    public var retryAfter: Int?

    public init(status: Int, type: String, message: String, retryAfter: Int? = nil) {
        self.status = status
        self.type = type
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status) \(type): \(message)" }

    /// 400: the request cannot be answered as sent (the message names the field and the value).
    public static func badRequest(_ message: String) -> APIError {
        APIError(status: 400, type: "invalid_request_error", message: message)
    }

    /// 401: the `Authorization: Bearer` key is missing or wrong.
    public static let unauthorized = APIError(
        status: 401, type: "authentication_error", message: "invalid or missing API key (Authorization: Bearer …)")

    public static func notFound(_ path: String) -> APIError {
        APIError(status: 404, type: "not_found_error", message: "no such endpoint: \(path)")
    }

    public static func tooLarge(limit: Int) -> APIError {
        APIError(
            status: 413, type: "invalid_request_error",
            message: "request body larger than the server's limit of \(limit) bytes (--max-body-mb)")
    }

    /// 503: the model is still loading, or the queue is full.
    public static func unavailable(_ message: String, retryAfter: Int) -> APIError {
        APIError(status: 503, type: "unavailable_error", message: message, retryAfter: retryAfter)
    }

    public static func server(_ message: String) -> APIError {
        APIError(status: 500, type: "server_error", message: message)
    }

    /// The JSON body.
    public var body: Data {
        let object: [String: Any] = ["error": ["code": status, "message": message, "type": type]]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }
}
