// Runs an embedded Neo4j community database with only the Bolt connector, for marketstream's local stack, with
// authentication on (as the Docker image with NEO4J_AUTH): on every start the user named by NEO4J_USER (default
// neo4j) is created if missing and given the password NEO4J_PASSWORD (default marketstream), no change required.
// That also migrates a data directory created while auth was off (its neo4j user still has the default password).
// Usage: NEO4J_USER=… NEO4J_PASSWORD=… java -cp 'classes:lib/*' Launcher <homeDir> <host> <port>
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.graphdb.QueryExecutionException;

public final class Launcher {
  private Launcher() {}

  private static String env(String name, String fallback) {
    String v = System.getenv(name);
    return v == null || v.isEmpty() ? fallback : v;
  }

  /** The configured user exists, with the configured password and no change required (idempotent). */
  static void ensureUser(GraphDatabaseService system, String user, String password) {
    Map<String, Object> params = Map.of("user", user, "password", password);
    system.executeTransactionally("CREATE USER $user IF NOT EXISTS SET PLAINTEXT PASSWORD $password CHANGE NOT REQUIRED", params);
    try {
      system.executeTransactionally("ALTER USER $user SET PLAINTEXT PASSWORD $password CHANGE NOT REQUIRED", params);
    } catch (QueryExecutionException e) {
      // Already that password: Neo4j refuses to "change" it to the same value; only clear the change-required flag.
      if (!String.valueOf(e.getMessage()).contains("cannot be the same")) throw e;
      system.executeTransactionally("ALTER USER $user SET PASSWORD CHANGE NOT REQUIRED", Map.of("user", user));
    }
  }

  public static void main(String[] args) throws InterruptedException {
    if (args.length != 3) {
      System.err.println("usage: Launcher <homeDir> <host> <port>");
      System.exit(2);
    }
    Path home = Path.of(args[0]);
    SocketAddress bolt = new SocketAddress(args[1], Integer.parseInt(args[2]));
    String user = env("NEO4J_USER", "neo4j");
    String password = env("NEO4J_PASSWORD", "marketstream");
    DatabaseManagementService service = new DatabaseManagementServiceBuilder(home)
        .setConfig(GraphDatabaseSettings.auth_enabled, true)
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
    try {
      ensureUser(service.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME), user, password);
    } catch (RuntimeException e) {
      System.err.println("marketstream neo4j launcher: could not set up user " + user + ": " + e.getMessage());
      System.exit(1);
    }
    System.out.println("marketstream neo4j launcher: Bolt on " + bolt + ", authentication on (user " + user + ")");
    stopped.await();
  }
}
