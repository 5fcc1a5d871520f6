// Starts DynamoDB Local listening on one host (127.0.0.1) instead of every interface.
//
// DynamoDB Local has no option for its host: its Jetty server is made with `new Server(port)`,
// which listens on 0.0.0.0 and ::, so anyone who can reach the machine could read and write the
// local tables. This launcher builds the server as DynamoDB Local's own main does, sets the host
// on its connector, and starts it.
//
// Usage: java -Djava.library.path=<DynamoDBLocal_lib> -cp <DynamoDBLocal.jar>:<this folder>
//          DynamoDbLocalOnHost <host> <DynamoDB Local arguments...>
//
// The compiled class is committed next to this file, so a Java runtime without a compiler (the
// JRE the README asks for) runs it. Rebuild it after editing, from this folder:
//   javac --release 17 -cp ../../../node_modules/amplify-dynamodb-simulator/emulator/DynamoDBLocal.jar DynamoDbLocalOnHost.java
import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import java.lang.reflect.Field;
import java.util.Arrays;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

public final class DynamoDbLocalOnHost {
  private DynamoDbLocalOnHost() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      System.err.println("usage: DynamoDbLocalOnHost <host> [DynamoDB Local arguments...]");
      System.exit(2);
    }
    String host = args[0];
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(Arrays.copyOfRange(args, 1, args.length));
    Field serverField = DynamoDBProxyServer.class.getDeclaredField("server");
    serverField.setAccessible(true);
    Server server = (Server) serverField.get(proxy);
    int connectors = 0;
    for (Connector connector : server.getConnectors()) {
      if (connector instanceof ServerConnector) {
        ((ServerConnector) connector).setHost(host);
        connectors++;
      }
    }
    if (connectors == 0) {
      // Never fall back to listening everywhere: fail, and say why.
      System.err.println("DynamoDbLocalOnHost: DynamoDB Local's server has no ServerConnector to bind to " + host + "; this DynamoDB Local version is not supported");
      System.exit(1);
    }
    proxy.start();
    System.out.println("DynamoDB Local listening on " + host);
  }
}
