package org.sparsevit.cli;

import java.io.PrintWriter;

import org.sparsevit.SparseVitException;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The {@code sparsevit} command line. Bad input anywhere ends with a non-zero exit code and one line
 * saying what is wrong and where; {@code --verbose} adds the stack trace.
 */
@Command(name = "sparsevit", mixinStandardHelpOptions = true, version = "sparsevit 0.1.0",
        description = "Swin Transformer backbones with SparseViT window activation pruning (CPU and CUDA).",
        subcommands = {DemoCommand.class, RunCommand.class, InfoCommand.class, MacsCommand.class, VizCommand.class, BenchCommand.class, SearchCommand.class, LatencyCommand.class, ReportCommand.class})
public final class Main implements Runnable {

    /** Shared by every subcommand. */
    public static final class Common {
        @Option(names = "--verbose", description = "Print stack traces of errors.", scope = CommandLine.ScopeType.INHERIT)
        boolean verbose;
    }

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs the command line and returns its exit code (used by tests). */
    public static int execute(String... args) {
        boolean verbose = java.util.Arrays.asList(args).contains("--verbose");
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, cmd, parseResult) -> {
            PrintWriter err = cmd.getErr();
            err.println("error: " + message(ex));
            if (verbose) {
                ex.printStackTrace(err);
            }
            err.flush();
            return userError(ex) ? 1 : 3;
        });
        cl.setParameterExceptionHandler((ex, a) -> {
            PrintWriter err = ex.getCommandLine().getErr();
            err.println("error: " + ex.getMessage());
            err.println("see '" + ex.getCommandLine().getCommandSpec().qualifiedName() + " --help'");
            err.flush();
            return 2;
        });
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError e) {
            // an Error passes picocli's handler: the input (or a buffer of it) does not fit this JVM's memory
            PrintWriter err = cl.getErr();
            err.println("error: " + message(e));
            if (verbose) {
                e.printStackTrace(err);
            }
            err.flush();
            return 1;
        }
    }

    /**
     * Errors of what the user gave (exit 1), as opposed to our defects (exit 3): our own checks, bad arguments,
     * file errors, and inputs too large for this machine (a count or index past Java's int range, or memory).
     */
    private static boolean userError(Throwable ex) {
        return ex instanceof SparseVitException || ex instanceof IllegalArgumentException || io(ex) != null
                || ex instanceof ArithmeticException || ex instanceof OutOfMemoryError;
    }

    /**
     * Why a file operation failed, in words (e.g. "Is a directory", "permission denied"), without the path
     * that the caller's message names already.
     */
    static String reason(java.io.IOException e) {
        if (e instanceof java.nio.file.FileSystemException f) {
            if (f.getReason() != null) {
                return f.getReason();
            }
            if (e instanceof java.nio.file.AccessDeniedException) {
                return "permission denied";
            }
            if (e instanceof java.nio.file.NoSuchFileException) {
                return "no such file or directory";
            }
            if (e instanceof java.nio.file.FileAlreadyExistsException) {
                return f.getFile() == null ? "it already exists" : f.getFile() + " already exists";
            }
            if (e instanceof java.nio.file.NotDirectoryException) {
                return "not a directory";
            }
            return e.getClass().getSimpleName();
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    /** The file error behind {@code ex} (an IOException, or one wrapped unchecked), else null. */
    private static java.io.IOException io(Throwable ex) {
        return ex instanceof java.io.IOException e ? e
                : ex instanceof java.io.UncheckedIOException u ? u.getCause() : null;
    }

    static String message(Throwable ex) {
        if (ex instanceof SparseVitException || ex instanceof IllegalArgumentException) {
            return ex.getMessage();
        }
        java.io.IOException io = io(ex);
        if (io instanceof java.nio.file.FileSystemException f && f.getFile() != null) {
            return f.getFile() + (f.getOtherFile() == null ? "" : " -> " + f.getOtherFile()) + ": " + reason(io);
        }
        if (io != null) {
            return "input/output error (" + reason(io) + ")";
        }
        if (ex instanceof OutOfMemoryError) {
            return "out of memory (" + ex.getMessage() + "); use a smaller batch or input, or a larger -Xmx"
                    + " (and -XX:MaxDirectMemorySize for the CPU backend's buffers)";
        }
        if (ex instanceof ArithmeticException) {
            return "the input is too large: an element count or index goes past what one buffer can address ("
                    + ex.getMessage() + "); use a smaller batch or input size";
        }
        String m = ex.getMessage();
        return ex.getClass().getSimpleName() + (m == null ? "" : ": " + m) + " (use --verbose for details)";
    }
}
