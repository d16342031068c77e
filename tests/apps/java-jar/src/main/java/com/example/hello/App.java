package com.example.hello;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/** A Java web app with no dependencies: the JDK's own HTTP server, listening on $PORT. */
public final class App {
  private App() {}

  public static void main(String[] args) throws IOException {
    int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8080"));
    HttpServer server = HttpServer.create(new InetSocketAddress(port), 0);
    server.createContext("/", App::hello);
    server.createContext("/memory", App::memory);
    server.start();
    System.out.println("Listening on port " + port);
  }

  private static void hello(HttpExchange exchange) throws IOException {
    if (!exchange.getRequestURI().getPath().equals("/")) {
      reply(exchange, 404, "Not found\n");
      return;
    }
    reply(exchange, 200, "Hello from a Java jar on Java " + Runtime.version().feature() + "\n");
  }

  /** What the JVM was given: its flags, and the heap it will grow to. */
  private static void memory(HttpExchange exchange) throws IOException {
    long maxHeap = Runtime.getRuntime().maxMemory() / (1024 * 1024);
    String flags = String.join(" ", ManagementFactory.getRuntimeMXBean().getInputArguments());
    reply(exchange, 200, "max heap: " + maxHeap + " MiB\nflags: " + flags + "\n");
  }

  private static void reply(HttpExchange exchange, int status, String text) throws IOException {
    byte[] body = text.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
    exchange.sendResponseHeaders(status, body.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(body);
    }
  }
}
