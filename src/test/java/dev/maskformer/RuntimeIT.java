// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

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
    RuntimeInfo r = MaskFormer.runtime();
    assertTrue(r.libtorchLoaded().isEmpty()
        || r.libtorchLoaded().split("\\.")[0].equals(r.libtorchVersion().split("\\.")[0])
            && r.libtorchLoaded().split("\\.")[1].equals(r.libtorchVersion().split("\\.")[1]), r.toString());
    assertTrue(r.libtorchFile().isEmpty() || r.libtorchFile().contains("libtorch_cpu"), r.libtorchFile());
  }

  @ParameterizedTest
  @ValueSource(ints = {Integer.MAX_VALUE, 100_000, 1025, -1, 0, Integer.MIN_VALUE})
  void absurdThreadCountsAreRefusedBeforeAnyNativeUse(int threads) {
    int max = MaskFormer.runtime().maxThreads();
    long handles = MaskFormer.liveNativeHandles();
    var set = assertThrows(IllegalArgumentException.class, () -> MaskFormer.setIntraOpThreads(threads));
    assertTrue(set.getMessage().contains("1.." + max), set.getMessage());
    if (threads > 0) {
      var load = assertThrows(IllegalArgumentException.class, () -> MaskFormer.load(TestModels.tiny(),
          LoadOptions.DEFAULTS.withIntraOpThreads(threads)));
      assertTrue(load.getMessage().contains("intraOpThreads must be 1.." + max), load.getMessage());
    }
    // the process is unharmed and keeps its count
    assertTrue(MaskFormer.runtime().intraOpThreads() >= 1);
    assertEquals(handles, MaskFormer.liveNativeHandles());
  }

  @Test
  void boundsAreSane() {
    RuntimeInfo r = MaskFormer.runtime();
    int cores = Runtime.getRuntime().availableProcessors();
    assertTrue(r.maxThreads() >= 4 && r.maxThreads() <= 1024, r.toString());
    assertTrue(r.defaultThreads() >= 1 && r.defaultThreads() <= Math.max(cores, 1), r.toString());
    MaskFormer.setIntraOpThreads(r.maxThreads()); // the bound itself is accepted
    MaskFormer.setIntraOpThreads(r.defaultThreads());
    assertEquals(r.defaultThreads(), MaskFormer.runtime().intraOpThreads());
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
    assertEquals(Integer.toString(MaskFormer.runtime().defaultThreads()), m.group(2), out);
    assertTrue(out.contains("OpenMP GOMP_SPINCOUNT=1000") || System.getenv("OMP_WAIT_POLICY") != null
        || System.getenv("GOMP_SPINCOUNT") != null, out);
  }

  @Test
  void bf16OnTheCpuRunsExactlyWhereItIsNative() {
    boolean nativeBf16 = MaskFormer.runtime().cpuNativeBf16();
    if (nativeBf16) {
      try (MaskFormer m = MaskFormer.load(TestModels.tiny(), LoadOptions.DEFAULTS.withPrecision(Precision.BF16))) {
        assertEquals(Precision.BF16, m.info().precision());
      }
    } else {
      var e = assertThrows(UnsupportedDeviceException.class, () -> MaskFormer.load(TestModels.tiny(),
          LoadOptions.DEFAULTS.withPrecision(Precision.BF16)));
      assertTrue(e.getMessage().contains("native bf16"), e.getMessage());
    }
  }

  @Test
  void benchmarkHelpersMeasureAndValidate() {
    double peak = MaskFormer.matmulGflops(Device.CPU, Precision.FP32, 256, 2);
    assertTrue(peak > 0.1 && peak < 1e6, "GFLOP/s " + peak);
    assertThrows(IllegalArgumentException.class, () -> MaskFormer.matmulGflops(Device.CPU, Precision.FP32, 1 << 20, 1));
    assertThrows(UnsupportedDeviceException.class, () -> MaskFormer.matmulGflops(Device.CPU, Precision.FP16, 256, 1));
    try (MaskFormer m = MaskFormer.load(TestModels.tiny())) {
      double[] ms = m.benchmarkForward(new Size(64, 48), 2, 3);
      assertEquals(3, ms.length);
      for (double t : ms) {
        assertTrue(t > 0, java.util.Arrays.toString(ms));
      }
      assertThrows(IllegalArgumentException.class, () -> m.benchmarkForward(new Size(64, 48), 0, 3));
    }
  }
}
