// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The README's "Use it in your project" is what the test command runs: its Java example is the
 * consumer project's code (src/test/consumer, built from the published artifacts and run by
 * ./maskformer test), its dependency snippet names artifacts and classifiers the consumer uses,
 * its Flink SQL is the one FlinkSqlIT runs.
 */
class ReadmeTest {
  private static final Path ROOT = Path.of(System.getProperty("maskformer.repoRoot", "."));

  private static String dedent(String block) {
    int indent = block.lines().filter(l -> !l.isBlank())
        .mapToInt(l -> l.length() - l.stripLeading().length()).min().orElse(0);
    return block.lines().map(l -> l.length() >= indent ? l.substring(indent) : l.strip())
        .collect(Collectors.joining("\n"));
  }

  @Test
  void theExampleIsTheConsumersCode() throws IOException {
    String readme = Files.readString(ROOT.resolve("README.md"));
    String source = Files.readString(ROOT.resolve("src/test/consumer/src/main/java/example/SegmentSamples.java"));
    int from = source.indexOf("// --- README example ---");
    int to = source.indexOf("// --- end of README example ---");
    assertTrue(from > 0 && to > from, "markers missing in SegmentSamples.java");
    String example = dedent(source.substring(source.indexOf('\n', from) + 1, source.lastIndexOf('\n', to)));
    assertTrue(readme.contains("```java\n" + example + "\n```"), "README's example differs from the consumer's:\n" + example);
  }

  @Test
  void theDependenciesAreThoseTheConsumerUses() throws IOException {
    String readme = Files.readString(ROOT.resolve("README.md"));
    String pom = Files.readString(ROOT.resolve("src/test/consumer/pom.xml"));
    String version = Files.readAllLines(ROOT.resolve("pom.xml")).stream()
        .filter(l -> l.startsWith("  <version>")).findFirst().orElseThrow().strip();
    assertTrue(readme.contains("<artifactId>maskformer-java</artifactId>\n    " + version), "version in README");
    for (String classifier : Arrays.asList("linux-x86_64-torch2.13-cpu", "linux-x86_64-torch1.13-cpu",
        "linux-x86_64-torch2.14-cuda13")) {
      assertTrue(readme.contains("`" + classifier + "`"), classifier + " not in the README's table");
      assertTrue(pom.contains("<classifier>" + classifier + "</classifier>"), classifier + " not used by the consumer");
    }
  }

  /** The README's Flink SQL is docs/flink.md's, which FlinkSqlIT runs as it stands there. */
  @Test
  void theFlinkSqlIsTheOneFlinkSqlItRuns() throws IOException {
    String readme = Files.readString(ROOT.resolve("README.md"));
    String docs = Files.readString(ROOT.resolve("docs/flink.md"));
    int from = docs.indexOf("```sql\n");
    assertTrue(from >= 0, "no SQL in docs/flink.md");
    String sql = docs.substring(from, docs.indexOf("```", from + 6) + 3);
    assertTrue(readme.contains(sql), "README's SQL differs from docs/flink.md's:\n" + sql);
  }
}
