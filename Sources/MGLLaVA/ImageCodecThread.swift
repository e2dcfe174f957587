#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// libjpeg and libpng report a fatal error by calling an error handler that must not return: C callers
// `longjmp` out of it. Swift cannot `setjmp` (returns-twice functions are unavailable), CImageCodecs is a
// system-library target that cannot carry a C shim, and the defaults (`exit()` in libjpeg, `abort()` in
// libpng) would take the whole process down on one corrupt file.
//
// So each decode runs on a short-lived thread of its own, and the error handlers end that thread with
// `pthread_exit` — a documented way for a function to never return. The caller joins the thread and finds the
// failure recorded in the job; the codec structs live in memory the caller owns, so it destroys them exactly
// as a `longjmp`-based handler would. A thread costs tens of microseconds, far below a decode.
//
// Rules for code that runs on the codec thread (the job bodies and the callbacks): touch only memory reached
// through the job pointer, and hold no Swift object references across codec calls — a frame abandoned by
// `pthread_exit` runs no cleanup, so a reference held there would leak.

/// The C signature of a codec-thread body: it receives the job pointer given to `runOnCodecThread`. Write bodies
/// as `{ work($0); return nil }` with `work` taking `UnsafeMutableRawPointer?`, which compiles on both platforms.
#if canImport(Darwin)
    typealias CodecThreadBody = @convention(c) (UnsafeMutableRawPointer) -> UnsafeMutableRawPointer?
#else
    typealias CodecThreadBody = @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer?
#endif

/// Runs `body(job)` on a new thread and waits for it to finish or to be ended by `exitCodecThread()`.
/// Returns false only when the thread could not be started.
func runOnCodecThread(_ body: CodecThreadBody, job: UnsafeMutableRawPointer) -> Bool {
    var attributes = pthread_attr_t()
    guard pthread_attr_init(&attributes) == 0 else { return false }
    defer { pthread_attr_destroy(&attributes) }
    // libjpeg/libpng need little stack; 1 MiB leaves a wide margin and keeps many concurrent decodes cheap.
    _ = pthread_attr_setstacksize(&attributes, 1 << 20)
    #if canImport(Darwin)
        var thread: pthread_t?
        guard pthread_create(&thread, &attributes, body, job) == 0, let started = thread else { return false }
        pthread_join(started, nil)
    #else
        var thread = pthread_t()
        guard pthread_create(&thread, &attributes, body, job) == 0 else { return false }
        pthread_join(thread, nil)
    #endif
    return true
}

/// Ends the current codec thread without returning to the codec (its fatal-error path). Call only on a thread
/// started by `runOnCodecThread`, after recording the failure in the job.
func exitCodecThread() -> Never {
    pthread_exit(nil)
}

/// How a decode on the codec thread ended; `running` means the thread stopped without saying why.
enum CodecOutcome {
    case running, finished, truncated, corrupt, tooLarge, unsupported
}
