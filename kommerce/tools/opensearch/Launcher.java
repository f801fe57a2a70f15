package kommerce.opensearch;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.Node;
import org.opensearch.transport.Netty4Plugin;

/**
 * Runs one OpenSearch node inside this JVM from the Maven Central jars.
 *
 * <p>The OpenSearch distribution tarball is not served by any registry this project may reach,
 * but the server itself is a library on Maven Central. This launcher starts a node with the two
 * modules Kommerce needs (HTTP/transport over Netty 4, and the common analyzers: synonym_graph,
 * edge n-grams, ascii folding, ...). Usage: {@code Launcher <opensearch.yml>}; the settings file
 * names path.home, path.data, ports, and so on. SIGTERM closes the node cleanly.
 */
public final class Launcher {
  private Launcher() {}

  /** Node's plugin-list constructor is protected: it is how OpenSearch's own tests embed it. */
  static final class EmbeddedNode extends Node {
    EmbeddedNode(Settings settings) {
      super(
          new Environment(settings, null),
          List.of(Netty4Plugin.class, CommonAnalysisPlugin.class),
          true);
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 1) {
      System.err.println("usage: Launcher <opensearch.yml>");
      System.exit(2);
    }
    Settings settings = Settings.builder().loadFromPath(Path.of(args[0])).build();
    long started = System.nanoTime();
    Node node = new EmbeddedNode(settings);
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  try {
                    node.close();
                  } catch (Exception e) {
                    e.printStackTrace();
                  } finally {
                    stopped.countDown();
                  }
                },
                "kommerce-opensearch-shutdown"));
    node.start();
    System.out.printf(
        "kommerce: opensearch node started in %d ms%n", (System.nanoTime() - started) / 1_000_000);
    System.out.flush();
    stopped.await();
  }
}
