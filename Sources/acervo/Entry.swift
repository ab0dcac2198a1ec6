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
        await Acervo.main()
    }
}
