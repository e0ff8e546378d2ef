// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;

/** Pieces of the CLI that need no native code. */
class CliUnitTest {
  @Test
  void helpTextsAreParagraphsThatPicocliWraps() {
    // picocli starts a new line for each string of a description and wraps each one on its own:
    // prose hard-wrapped across strings came out ragged ("... and prints JSON:" / "mean, ...")
    CommandLine cli = new CommandLine(new Main());
    for (var command : cli.getSubcommands().entrySet()) {
      if (command.getValue().getCommand() instanceof CommandLine.HelpCommand) {
        continue; // picocli's own
      }
      CommandSpec spec = command.getValue().getCommandSpec();
      assertTrue(spec.usageMessage().description().length <= 1,
          command.getKey() + ": its description is split into strings; make it one paragraph");
      for (ArgSpec arg : spec.args()) {
        assertTrue(arg.description().length <= 1,
            command.getKey() + " " + arg.paramLabel() + ": its description is split into strings");
      }
    }
  }

  @Test
  void meanIouFollowsSssegmentation() {
    EvaluateCommand.MeanIou m = new EvaluateCommand.MeanIou(3);
    // ids: 0 ignored, 1..3 -> labels 0..2, 200 outside the label set: ignored
    m.add(new int[] {0, 0, 1, 1, 2, 2, 0}, new int[] {1, 2, 2, 2, 0, 200, 1});
    // counted pixels 0,1,2,3,6. class 0: predicted 0,1,6, labelled 0,6 -> I=2, U=3
    // class 1: predicted 2,3, labelled 1,2,3 -> I=2, U=3; class 2: only at ignored pixels -> NaN
    double[] iou = m.iou();
    assertEquals(2.0 / 3, iou[0], 1e-12);
    assertEquals(2.0 / 3, iou[1], 1e-12);
    assertTrue(Double.isNaN(iou[2]));
    assertEquals(2.0 / 3, m.meanIou(), 1e-12);
    assertEquals(4.0 / 5, m.pixelAccuracy(), 1e-12);
  }

  @Test
  void jsonHelpers() {
    assertEquals("\"a\\\"b\\\\c\\n\"", Json.quote("a\"b\\c\n"));
    assertEquals("3", Json.number(3.0));
    assertEquals("0.500000", Json.number(0.5));
    assertEquals("null", Json.number(Double.NaN));
    String doc = "{\"source_checkpoint\": null, \"source_checkpoint_sha256\": \"ab\\u0063\", \"x\": 1}";
    assertNull(Json.stringField(doc, "source_checkpoint"));
    assertEquals("abc", Json.stringField(doc, "source_checkpoint_sha256"));
    assertNull(Json.stringField(doc, "x"));
    assertNull(Json.stringField(doc, "missing"));
  }

  @Test
  void percentiles() {
    double[] sorted = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    assertEquals(5, BenchCommand.percentile(sorted, 0.5));
    assertEquals(9, BenchCommand.percentile(sorted, 0.9));
    assertEquals(1, BenchCommand.percentile(new double[] {1}, 0.9));
  }

  @Test
  void badOptionValuesAreUsageErrors() {
    String[][] cases = {
        {"bench", "--model", "m.pt", "--device", "tpu"},
        {"segment", "--model", "m.pt", "--precision", "fp8", "x.png"},
        {"bench", "--model", "m.pt", "--size", "12by3"},
        {"evaluate", "--model", "m.pt", "--data", "d", "--device", "cuda:x"},
    };
    for (String[] args : cases) {
      Run r = run(args);
      assertEquals(2, r.code(), String.join(" ", args) + ": " + r.err());
      assertTrue(r.err().contains("Invalid value for option"), r.err());
      assertTrue(r.err().contains(args[args.length - (args[0].equals("segment") ? 2 : 1)]), r.err());
    }
  }

  @Test
  void everyCommandHasHelp() {
    for (String cmd : new String[] {"info", "segment", "bench", "evaluate", "video", "demo"}) {
      Run r = run(cmd, "--help");
      assertEquals(0, r.code(), cmd + ": " + r.err());
      assertTrue(r.out().contains("Usage: maskformer " + cmd), r.out());
    }
  }

  private record Run(int code, String out, String err) {}

  /** The CLI in-process, without native code: parsing and help only. */
  private static Run run(String... args) {
    java.io.StringWriter out = new java.io.StringWriter();
    java.io.StringWriter err = new java.io.StringWriter();
    int code = Main.run(new java.io.PrintWriter(out, true), new java.io.PrintWriter(err, true), args);
    return new Run(code, out.toString(), err.toString());
  }

  @Test
  void stems() {
    assertEquals("street", SegmentCommand.stem(java.nio.file.Path.of("/a/street.jpg")));
    assertTrue(SegmentCommand.isImage(java.nio.file.Path.of("X.JPEG")));
  }
}
