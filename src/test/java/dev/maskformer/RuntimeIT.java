// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.internal.Benchmarks;
import dev.maskformer.images.Images;
import dev.maskformer.MaskFormer.Size;
import dev.maskformer.MaskFormerRuntime.CpuFeature;
import dev.maskformer.MaskFormerRuntime.RuntimeInfo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.maskformer.cli.Main;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Process-wide facts: the LibTorch loaded, thread counts and their bounds, CPU features. */
class RuntimeIT {
  @Test
  void theLoadedLibtorchIsTheCompiledOne() {
    RuntimeInfo r = MaskFormerRuntime.info();
    assertTrue(r.libtorchLoaded().isEmpty()
        || r.libtorchLoaded().split("\\.")[0].equals(r.libtorchVersion().split("\\.")[0])
            && r.libtorchLoaded().split("\\.")[1].equals(r.libtorchVersion().split("\\.")[1]), r.toString());
    assertTrue(r.libtorchFile().isEmpty() || r.libtorchFile().contains("libtorch_cpu"), r.libtorchFile());
  }

  @ParameterizedTest
  @ValueSource(ints = {Integer.MAX_VALUE, 100_000, 1025, -1, 0, Integer.MIN_VALUE})
  void absurdThreadCountsAreRefusedBeforeAnyNativeUse(int threads) {
    int max = MaskFormerRuntime.info().maxThreads();
    long handles = MaskFormerRuntime.liveNativeHandles();
    var set = assertThrows(IllegalArgumentException.class, () -> MaskFormerRuntime.setIntraOpThreads(threads));
    assertTrue(set.getMessage().contains("1.." + max), set.getMessage());
    if (threads > 0) {
      var load = assertThrows(IllegalArgumentException.class, () -> MaskFormer.load(TestModels.tiny(),
          LoadOptions.DEFAULTS.withIntraOpThreads(threads)));
      assertTrue(load.getMessage().contains("intraOpThreads must be 1.." + max), load.getMessage());
    }
    // the process is unharmed and keeps its count
    assertTrue(MaskFormerRuntime.info().intraOpThreads() >= 1);
    assertEquals(handles, MaskFormerRuntime.liveNativeHandles());
  }

  @Test
  void boundsAreSane() {
    RuntimeInfo r = MaskFormerRuntime.info();
    int cores = Runtime.getRuntime().availableProcessors();
    assertTrue(r.maxThreads() >= 4 && r.maxThreads() <= 1024, r.toString());
    assertTrue(r.defaultThreads() >= 1 && r.defaultThreads() <= Math.max(cores, 1), r.toString());
    MaskFormerRuntime.setIntraOpThreads(r.maxThreads()); // the bound itself is accepted
    MaskFormerRuntime.setIntraOpThreads(r.defaultThreads());
    assertEquals(r.defaultThreads(), MaskFormerRuntime.info().intraOpThreads());
  }

  /** The API's default and the CLI's are one: the shim's, in a fresh process. */
  @Test
  void theCommandLineReportsTheLibraryDefault() throws Exception {
    assumeTrue(System.getenv("OMP_NUM_THREADS") == null, "OMP_NUM_THREADS chooses the count");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> cmd = new java.util.ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED"));
    String shim = System.getProperty("maskformer.library", "");
    if (!shim.isBlank()) {
      cmd.add("-Dmaskformer.library=" + shim);
    }
    String libtorch = System.getProperty("maskformer.libtorch", "");
    if (!libtorch.isBlank()) { // the test's LibTorch, whatever the PATH holds
      cmd.add("-Dmaskformer.libtorch=" + libtorch);
    }
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "info",
        "--model", TestModels.tiny().toString()));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(2, TimeUnit.MINUTES));
    assertEquals(0, p.exitValue(), out);
    Matcher m = Pattern.compile("CPU threads +(\\d+) \\(LibTorch intra-op; default (\\d+), at most (\\d+)\\)")
        .matcher(out);
    assertTrue(m.find(), out);
    assertEquals(m.group(2), m.group(1), out);
    assertEquals(Integer.toString(MaskFormerRuntime.info().defaultThreads()), m.group(2), out);
    assertTrue(out.contains("OpenMP GOMP_SPINCOUNT=1000") || System.getenv("OMP_WAIT_POLICY") != null
        || System.getenv("GOMP_SPINCOUNT") != null, out);
  }

  /**
   * The outcome is fixed by the CPU's flags as the kernel reports them in /proc/cpuinfo, not by the
   * library's own detection: with avx512_bf16 or amx_bf16 a bf16 model must load and really compute
   * in bf16 (scores near fp32's but not equal to them); without, loading must be refused.
   */
  @Test
  void bf16OnTheCpuRunsExactlyWhereItIsNative() throws Exception {
    Path cpuinfo = Path.of("/proc/cpuinfo");
    assumeTrue(java.nio.file.Files.isReadable(cpuinfo), "no /proc/cpuinfo");
    java.util.Set<String> flags = new java.util.HashSet<>();
    for (String line : java.nio.file.Files.readAllLines(cpuinfo)) {
      if (line.startsWith("flags")) {
        flags.addAll(List.of(line.substring(line.indexOf(':') + 1).trim().split("\\s+")));
        break;
      }
    }
    assumeTrue(flags.contains("sse2"), "no x86 flags in /proc/cpuinfo");
    java.util.Set<CpuFeature> expected = java.util.EnumSet.noneOf(CpuFeature.class);
    if (flags.contains("avx2")) {
      expected.add(CpuFeature.AVX2);
    }
    if (flags.contains("avx512f")) {
      expected.add(CpuFeature.AVX512);
    }
    if (flags.contains("avx512_bf16")) {
      expected.add(CpuFeature.AVX512_BF16);
    }
    if (flags.contains("amx_bf16") && flags.contains("amx_tile")) {
      expected.add(CpuFeature.AMX_BF16);
    }
    RuntimeInfo r = MaskFormerRuntime.info();
    assertEquals(expected, r.cpuFeatures(), "CPU features against /proc/cpuinfo");
    boolean nativeBf16 = flags.contains("avx512_bf16") || flags.contains("amx_bf16");
    assertEquals(nativeBf16, r.cpuNativeBf16());
    LoadOptions bf16 = LoadOptions.DEFAULTS.withPrecision(Precision.BF16);
    if (!nativeBf16) {
      var e = assertThrows(UnsupportedDeviceException.class, () -> MaskFormer.load(TestModels.tiny(), bf16));
      assertEquals(Status.UNSUPPORTED, e.status());
      assertTrue(e.getMessage().contains("native bf16"), e.getMessage());
      return;
    }
    SegmentOptions scores = SegmentOptions.DEFAULTS.withScores(true);
    try (MaskFormer half = MaskFormer.load(TestModels.tiny(), bf16);
        MaskFormer full = MaskFormer.load(TestModels.tiny());
        Segmentation a = Images.segment(half, TestModels.image("scene_97x61"), scores);
        Segmentation b = Images.segment(full, TestModels.image("scene_97x61"), scores)) {
      assertEquals(Precision.BF16, half.info().precision());
      float[] x = a.scores().orElseThrow().toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT);
      float[] y = b.scores().orElseThrow().toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT);
      double worst = 0;
      for (int i = 0; i < x.length; i++) {
        worst = Math.max(worst, Math.abs(x[i] - y[i]));
      }
      System.out.printf("bf16 vs fp32 scores on the tiny model: max |difference| %.2e%n", worst);
      assertTrue(worst > 0, "bf16 scores equal fp32's bit for bit: the network did not run in bf16");
      assertTrue(worst < 0.1, "bf16 scores differ from fp32's by " + worst);
    }
  }

  @Test
  void benchmarkHelpersMeasureAndValidate() {
    double peak = Benchmarks.matmulGflops(Device.CPU.index(), Precision.FP32.code(), 256, 2);
    assertTrue(peak > 0.1 && peak < 1e6, "GFLOP/s " + peak);
    assertThrows(IllegalArgumentException.class, () -> Benchmarks.matmulGflops(Device.CPU.index(), Precision.FP32.code(), 1 << 20, 1));
    assertThrows(UnsupportedDeviceException.class, () -> Benchmarks.matmulGflops(Device.CPU.index(), Precision.FP16.code(), 256, 1));
    try (MaskFormer m = MaskFormer.load(TestModels.tiny())) {
      double[] ms = Benchmarks.forward(m, 64, 48, 2, 3);
      assertEquals(3, ms.length);
      for (double t : ms) {
        assertTrue(t > 0, java.util.Arrays.toString(ms));
      }
      assertThrows(IllegalArgumentException.class, () -> Benchmarks.forward(m, 64, 48, 0, 3));
    }
  }
}
