// Runs an embedded Neo4j community database with only the Bolt connector, for marketstream's local stack.
// Usage: java -cp 'classes:lib/*' Launcher <homeDir> <host> <port>
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;

public final class Launcher {
  private Launcher() {}

  public static void main(String[] args) throws InterruptedException {
    if (args.length != 3) {
      System.err.println("usage: Launcher <homeDir> <host> <port>");
      System.exit(2);
    }
    Path home = Path.of(args[0]);
    SocketAddress bolt = new SocketAddress(args[1], Integer.parseInt(args[2]));
    DatabaseManagementService service = new DatabaseManagementServiceBuilder(home)
        .setConfig(BoltConnector.enabled, true)
        .setConfig(BoltConnector.listen_address, bolt)
        .setConfig(BoltConnector.advertised_address, bolt)
        .build();
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      System.out.println("marketstream neo4j launcher: shutting down");
      service.shutdown();
      stopped.countDown();
    }, "neo4j-shutdown"));
    System.out.println("marketstream neo4j launcher: Bolt on " + bolt);
    stopped.await();
  }
}
