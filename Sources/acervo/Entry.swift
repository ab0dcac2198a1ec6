import AcervoApp
import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

@main
enum Entry {
    static func main() async {
        // A write past a file-size limit must fail with EFBIG (reported like a full disk, nothing half-written)
        // rather than kill the process; a closed stdout (`acervo cat … | head`) must end `cat` quietly.
        signal(SIGXFSZ, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try Acervo.parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            // A mistake in the arguments (a failed `validate()`, an unknown option) is the contract's usage
            // error, 2 — not argument parser's own 64.
            if Acervo.exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((Acervo.fullMessage(for: error) + "\n").utf8))
                exit(ExitCode(.usage).rawValue)
            }
            Acervo.exit(withError: error)
        }
    }
}
