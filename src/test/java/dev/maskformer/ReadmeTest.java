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

  /**
   * Where the test command runs each command the README shows: the file that runs it and the text
   * there that is that command. A command added to the README without being run fails here.
   */
  private static final java.util.Map<String, String[]> RUN_BY = java.util.Map.ofEntries(
      java.util.Map.entry("./maskformer demo", new String[] {"maskformer", "\"$ROOT/maskformer\" demo"}),
      java.util.Map.entry("./maskformer test", new String[] {".ci/run", "exec ./maskformer test"}),
      java.util.Map.entry("./maskformer publish ~/maskformer-repo", new String[] {"maskformer", "publish \"$ROOT/target/publish-repo\""}),
      java.util.Map.entry("./maskformer publish DIR", new String[] {"maskformer", "publish \"$ROOT/target/publish-repo\""}),
      // pytest runs export.py with exactly these arguments on a zoo-format checkpoint of that name;
      // the stage runs ./maskformer python itself
      java.util.Map.entry("./maskformer python models/export.py --checkpoint maskformer_swintiny_ade20k.pth --variant swin-tiny --out swin-tiny.pt",
          new String[] {"models/tests/test_convert.py", "\"--checkpoint\", zoo_checkpoint[0], \"--variant\",\n                        \"swin-tiny\", \"--out\""}),
      java.util.Map.entry("./maskformer python", new String[] {"maskformer", "\"$ROOT/maskformer\" python models/export.py --help"}),
      // download.pytorch.org is not reachable here: the same version comes from the local index
      java.util.Map.entry("pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu",
          new String[] {"maskformer", "DEFAULT_TORCH=\"torch==2.13.0+cpu\""}),
      java.util.Map.entry("pip install torch==2.14.1 --index-url https://download.pytorch.org/whl/cu130",
          new String[] {"maskformer", "torch==2.14.1"}),
      java.util.Map.entry("apt-get install libtorch1.13", new String[] {"maskformer", " libtorch1.13 "}),
      java.util.Map.entry("java --enable-native-access=ALL-UNNAMED -jar maskformer-cli-0.1.0-all.jar info",
          new String[] {"src/test/consumer/run.sh", "\"$java\" --enable-native-access=ALL-UNNAMED -jar \"maskformer-cli-$version-all.jar\" info"}));

  /** The commands the README shows: lines of its bash blocks, and code spans that start with a program. */
  static java.util.List<String> readmeCommands(String readme) {
    java.util.List<String> commands = new java.util.ArrayList<>();
    java.util.regex.Matcher blocks = java.util.regex.Pattern.compile("```bash\n(.*?)```", java.util.regex.Pattern.DOTALL).matcher(readme);
    while (blocks.find()) {
      for (String line : blocks.group(1).split("\n")) {
        String command = line.replaceAll("\\s+#.*$", "").strip();
        if (!command.isEmpty()) {
          commands.add(command);
        }
      }
    }
    java.util.regex.Matcher spans = java.util.regex.Pattern.compile("`((?:\\./maskformer|java|pip|apt-get|mvn|python3?) [^`]*|\\./maskformer [^`]*)`").matcher(readme);
    while (spans.find()) {
      commands.add(spans.group(1).strip());
    }
    return commands;
  }

  @Test
  void everyCommandTheReadmeShowsIsRunByTheTestCommand() throws IOException {
    String readme = Files.readString(ROOT.resolve("README.md"));
    java.util.List<String> commands = readmeCommands(readme);
    assertTrue(commands.size() >= 8, "commands found: " + commands);
    String version = Files.readAllLines(ROOT.resolve("pom.xml")).stream()
        .filter(l -> l.startsWith("  <version>")).findFirst().orElseThrow().strip().replaceAll("</?version>", "");
    for (String command : commands) {
      String[] where = RUN_BY.get(command.replace("maskformer-cli-" + version + "-all.jar", "maskformer-cli-0.1.0-all.jar"));
      assertTrue(where != null, "the README shows a command the test command does not run: " + command);
      String file = Files.readString(ROOT.resolve(where[0]));
      assertTrue(file.contains(where[1]), where[0] + " no longer runs `" + command + "` (looked for: " + where[1] + ")");
    }
    assertTrue(readme.contains("maskformer-cli-" + version + "-all.jar"), "the runnable jar's name has this version");
  }
}
