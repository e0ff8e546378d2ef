// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import dev.maskformer.Output.LabelType;
import dev.maskformer.images.Images;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * CpuRewrites.IN_BACKGROUND, the default: the load returns with the network as exported, calls run
 * on it while a thread rewrites and checks the network, then move to the rewritten one; the
 * switch is invisible to calls apart from rounding, and a model closed or a process ended during
 * the rewrite stops it cleanly.
 */
class BackgroundRewritesIT {
  private static final SegmentOptions SCORES = SegmentOptions.DEFAULTS.withLabelType(LabelType.I32).withScores(true);

  private static float[] scores(Segmentation s) {
    MemorySegment m = s.scores().orElseThrow();
    float[] out = new float[(int) (m.byteSize() / Float.BYTES)];
    MemorySegment.copy(m, ValueLayout.JAVA_FLOAT, 0, out, 0, out.length);
    return out;
  }

  private static double worst(float[] a, float[] b) {
    assertEquals(a.length, b.length);
    double worst = 0;
    for (int i = 0; i < a.length; i++) {
      worst = Math.max(worst, Math.abs(a[i] - b[i]));
    }
    return worst;
  }

  @Test
  void theDefaultRewritesInTheBackgroundAndCallsAgreeBeforeAndAfterTheSwitch() throws Exception {
    assertEquals(CpuRewrites.IN_BACKGROUND, LoadOptions.DEFAULTS.cpuRewrites());
    String image = "scene_128x128";
    float[] golden = TestModels.goldenScores("tiny", image);
    try (MaskFormer model = MaskFormer.load(TestModels.tiny())) {
      String early = model.info().cpuRewrites();
      float[] first;
      try (Segmentation s = Images.segment(model, TestModels.image(image), SCORES)) {
        first = scores(s);
      }
      String outcome = model.awaitCpuRewrites();
      System.out.printf("background rewrites: right after the load '%s', then '%s'%n", early, outcome);
      assertTrue(early.startsWith(ModelInfo.REWRITES_PENDING) || early.contains("checked in the background"), early);
      assertTrue(outcome.startsWith("freeze") && outcome.contains("checked in the background"), outcome);
      assertEquals(outcome, model.info().cpuRewrites(), "info() reads the outcome anew");
      assertEquals(outcome, model.awaitCpuRewrites(), "a second wait returns at once with the same");
      float[] after;
      try (Segmentation s = Images.segment(model, TestModels.image(image), SCORES)) {
        after = scores(s);
      }
      assertTrue(worst(first, golden) <= 1e-4, "before the switch vs Python " + worst(first, golden));
      assertTrue(worst(after, golden) <= 1e-4, "after the switch vs Python " + worst(after, golden));
      assertTrue(worst(first, after) <= 1e-4, "before vs after the switch " + worst(first, after));
    }
  }

  /** Four threads call without pause from the load on, through the switch: every result agrees. */
  @Test
  void concurrentCallsRunThroughTheSwitch() throws Exception {
    String image = "scene_97x61";
    float[] golden = TestModels.goldenScores("tiny", image);
    int[] labels = TestModels.goldenLabels("tiny", image);
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try (MaskFormer model = MaskFormer.load(TestModels.tiny())) {
      List<Future<double[]>> runs = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        runs.add(pool.submit(() -> {
          double worst = 0;
          int calls = 0;
          int afterSwitch = 0;
          int beforeSwitch = 0;
          while (afterSwitch < 2 && calls < 400) {
            boolean done = !model.info().cpuRewrites().startsWith(ModelInfo.REWRITES_PENDING);
            try (Segmentation s = Images.segment(model, TestModels.image(image), SCORES)) {
              worst = Math.max(worst, worst(scores(s), golden));
              int same = 0;
              int[] got = s.toIntArray();
              for (int i = 0; i < got.length; i++) {
                same += got[i] == labels[i] ? 1 : 0;
              }
              assertTrue(same >= 0.999 * got.length, "labels " + same + "/" + got.length);
            }
            calls++;
            afterSwitch += done ? 1 : 0;
            beforeSwitch += done ? 0 : 1;
          }
          return new double[] {worst, calls, beforeSwitch};
        }));
      }
      int before = 0;
      for (Future<double[]> f : runs) {
        double[] r = f.get(5, TimeUnit.MINUTES);
        System.out.printf("background rewrites: a thread made %.0f calls (%.0f before the switch), largest score difference %.2e%n",
            r[1], r[2], r[0]);
        assertTrue(r[0] <= 1e-4, "score difference " + r[0]);
        before += (int) r[2];
      }
      // the first call of each thread starts microseconds after the load, long before a rewrite
      // (tens of milliseconds at least) can be done
      assertTrue(before > 0, "no call ran before the switch: the test did not test it");
      assertTrue(model.awaitCpuRewrites().contains("checked in the background"), model.info().cpuRewrites());
    } finally {
      pool.shutdownNow();
    }
  }

  /**
   * A rewritten network that fails in the background (a convolution on an unbatched input, which
   * oneDNN's fused convolution refuses) leaves the exported one running, says why, and the calls
   * compute what the exported module computes, exactly.
   */
  @Test
  void aRewriteThatFailsItsTestRunLeavesTheExportedNetwork() throws Exception {
    try (MaskFormer background = MaskFormer.load(TestModels.bad("unbatched-conv.pt"));
         MaskFormer plain = MaskFormer.load(TestModels.bad("unbatched-conv.pt"), LoadOptions.DEFAULTS.withCpuRewrites(false))) {
      String outcome = background.awaitCpuRewrites();
      assumeFalse(outcome.contains(": 0 linear"),
          "this LibTorch has no oneDNN pointwise operators (Debian's 1.13): nothing is rewritten");
      assertTrue(outcome.startsWith("none (the rewritten network failed its test run: ") && outcome.contains("channels_last"),
          outcome);
      try (Segmentation a = Images.segment(background, TestModels.image("scene_128x128"), SCORES);
           Segmentation b = Images.segment(plain, TestModels.image("scene_128x128"), SCORES)) {
        assertArrayEquals(b.toIntArray(), a.toIntArray());
        assertArrayEquals(scores(b), scores(a));
      }
    }
  }

  @Test
  void closingDuringTheRewriteStopsItAndFreesTheModel() {
    long handles = MaskFormerRuntime.liveNativeHandles();
    for (int i = 0; i < 3; i++) {
      MaskFormer model = MaskFormer.load(TestModels.tiny());
      assertTrue(model.close(java.time.Duration.ofMinutes(1)));
      assertEquals(handles, MaskFormerRuntime.liveNativeHandles());
      assertFalse(model.info().cpuRewrites().isEmpty(), "info() after close: what was known");
      assertThrows(IllegalStateException.class, model::awaitCpuRewrites);
    }
  }

  @Test
  void theOtherChoicesSayWhatRuns() {
    try (MaskFormer atLoad = MaskFormer.load(TestModels.tiny(), LoadOptions.DEFAULTS.withCpuRewrites(CpuRewrites.AT_LOAD));
         MaskFormer none = MaskFormer.load(TestModels.tiny(), LoadOptions.DEFAULTS.withCpuRewrites(CpuRewrites.NONE))) {
      String rewritten = atLoad.info().cpuRewrites();
      assertTrue(rewritten.startsWith("freeze") && !rewritten.contains("background"), rewritten);
      assertEquals(rewritten, atLoad.awaitCpuRewrites(), "nothing to wait for");
      assertEquals("none (turned off in the load options)", none.awaitCpuRewrites());
    }
  }

  /**
   * A process that ends while a model rewrites itself (never closed: the JVM exits right after
   * the load) exits cleanly: the shutdown hook stops the thread before LibTorch's globals go. The
   * demo model, whose rewrite takes a few hundred milliseconds, is still rewriting then.
   */
  @Test
  void theProcessEndsCleanlyDuringTheRewrite() throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    for (String how : new String[] {"exit", "return"}) {
      List<String> cmd = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED"));
      for (String p : new String[] {"maskformer.library", "maskformer.libtorch"}) {
        String v = System.getProperty(p, "");
        if (!v.isBlank()) {
          cmd.add("-D" + p + "=" + v);
        }
      }
      cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), ExitDuringRewrites.class.getName(),
          TestModels.demoModel().toString(), how));
      ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
      pb.environment().put("MASKFORMER_VERBOSE", "1"); // the thread says how it ended
      Process p = pb.start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertTrue(p.waitFor(2, TimeUnit.MINUTES), "the process did not end");
      System.out.printf("background rewrites, process ends by %s: exit %d, %s", how, p.exitValue(), out);
      assertEquals(0, p.exitValue(), out);
      assertTrue(out.contains("loaded: " + ModelInfo.REWRITES_PENDING), out);
      assertFalse(out.contains("SIGSEGV") || out.contains("hs_err") || out.contains("terminate called"), out);
      // the thread ended before the process did: stopped by the shutdown hook, or done just before
      assertTrue(out.contains("CPU rewrites none (stopped: the model was freed, or the process is ending)")
          || out.contains("checked in the background"), out);
    }
  }

  /** The process of {@link #theProcessEndsCleanlyDuringTheRewrite}: loads, prints, ends. */
  public static final class ExitDuringRewrites {
    public static void main(String[] args) {
      MaskFormer model = MaskFormer.load(Path.of(args[0]));
      System.out.println("loaded: " + model.info().cpuRewrites());
      System.out.flush();
      if (args[1].equals("exit")) {
        System.exit(0);
      }
    }
  }
}
