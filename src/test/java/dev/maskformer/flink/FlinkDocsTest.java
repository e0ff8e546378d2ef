// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Java programs of docs/flink.md compile against this build and Flink (the DataStream job and
 * the SQL program); FlinkSqlIT runs the page's SQL.
 */
class FlinkDocsTest {
  static final Path DOCS = Path.of("docs/flink.md");

  /** The contents of the page's fenced blocks in this language, in order. */
  static List<String> blocks(String language) throws IOException {
    Matcher m = Pattern.compile("```" + language + "\\n(.*?)```", Pattern.DOTALL)
        .matcher(Files.readString(DOCS));
    List<String> out = new ArrayList<>();
    while (m.find()) {
      out.add(m.group(1));
    }
    return out;
  }

  @Test
  void theJavaProgramsCompile(@TempDir Path dir) throws Exception {
    List<String> programs = blocks("java");
    assertEquals(2, programs.size(), "a DataStream and an SQL program");
    List<String> command = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "javac").toString(),
        "-classpath", System.getProperty("java.class.path"), "-d", dir.resolve("classes").toString(),
        "-Xlint:all,-path,-processing", "-Werror"));
    Pattern name = Pattern.compile("public class (\\w+)");
    for (String program : programs) {
      Matcher m = name.matcher(program);
      assertTrue(m.find(), "a public class in\n" + program);
      Path source = dir.resolve(m.group(1) + ".java");
      Files.writeString(source, program);
      command.add(source.toString());
    }
    Process javac = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(javac.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, javac.waitFor(), out);
  }
}
