fn main() -> std::process::ExitCode {
    biotwin::cli::main()
}
