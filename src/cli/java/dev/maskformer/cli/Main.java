// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.MaskFormer.Size;
import dev.maskformer.Device;
import dev.maskformer.MaskFormerException;
import dev.maskformer.Precision;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.OptionSpec;

/** The {@code maskformer} command line: a thin user of the public API. */
@Command(
    name = "maskformer",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = "MaskFormer semantic segmentation from Java (FFM + LibTorch).",
    subcommands = {
      InfoCommand.class,
      SegmentCommand.class,
      BenchCommand.class,
      EvaluateCommand.class,
      VideoCommand.class,
      DemoCommand.class,
      CommandLine.HelpCommand.class
    })
public final class Main {
  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** Runs the command line and returns its exit code: 0 ok, 1 failure, 2 usage error. */
  public static int run(String... args) {
    return run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args);
  }

  /** As {@link #run(String...)}, printing to the given writers. */
  public static int run(PrintWriter out, PrintWriter err, String... args) {
    CommandLine cli = new CommandLine(new Main());
    // typed options: a bad value is a usage error (exit 2) naming the option
    cli.registerConverter(Device.class, Device::parse);
    cli.registerConverter(Precision.class, Precision::parse);
    cli.registerConverter(Size.class, Size::parse);
    // -h/--help on every command, before its required options are checked
    for (CommandLine sub : cli.getSubcommands().values()) {
      if (sub.getCommandSpec().findOption("--help") == null) {
        sub.getCommandSpec().addOption(OptionSpec.builder("-h", "--help")
            .usageHelp(true).description("show this help and exit").build());
      }
    }
    cli.setOut(out);
    cli.setErr(err);
    cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
      if (e instanceof MaskFormerException || e instanceof IllegalArgumentException
          || e instanceof IOException || e instanceof UncheckedIOException
          || e instanceof IllegalStateException) {
        cmd.getErr().println("error: " + e.getMessage());
        return 1;
      }
      if (e instanceof RuntimeException) {
        // anything else is unexpected: name it, keep the trace for a bug report
        cmd.getErr().println("error: " + e);
        if (Boolean.getBoolean("maskformer.trace") || System.getenv("MASKFORMER_TRACE") != null) {
          e.printStackTrace(cmd.getErr());
        } else {
          cmd.getErr().println("(set MASKFORMER_TRACE=1 for the stack trace)");
        }
        return 1;
      }
      throw e;
    });
    return cli.execute(args);
  }
}
