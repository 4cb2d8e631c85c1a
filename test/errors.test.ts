import { expect } from "chai";
import {
  ConfigurationError,
  describe as describeValue,
  ListenError,
  messages,
  StartupError,
} from "../src/errors.js";

describe("errors", () => {
  it("have names that survive bundling and subclassing", () => {
    expect(new ConfigurationError("x").name).to.equal("ConfigurationError");
    expect(new StartupError("x").name).to.equal("StartupError");
    const listen = new ListenError("x", "EACCES", "0.0.0.0", 80);
    expect([listen.name, listen instanceof StartupError, listen.code, listen.port]).to.deep.equal([
      "ListenError",
      true,
      "EACCES",
      80,
    ]);
  });

  it("say how to fix a port that cannot be bound, per cause", () => {
    expect(messages.listenFailed("0.0.0.0", 80, "EACCES", "permission denied")).to.include(
      "above 1023",
    );
    expect(messages.listenFailed("10.9.9.9", 8080, "EADDRNOTAVAIL", "x")).to.include(
      "not an address of this machine",
    );
    expect(messages.listenFailed("h", 1, "EADDRINUSE", "x")).to.include(
      "Another process is using it",
    );
    expect(messages.listenFailed("h", 1, "EWHAT", "x")).to.include("Check the host and port");
  });

  it("describe any value briefly in messages", () => {
    class Widget {}
    expect(
      [
        null,
        undefined,
        "s",
        1,
        true,
        2n,
        Symbol("k"),
        [],
        {},
        new Widget(),
        () => 1,
        function named() {},
      ].map(describeValue),
    ).to.deep.equal([
      "null",
      "undefined",
      '"s"',
      "1",
      "true",
      "2",
      "Symbol(k)",
      "an array",
      "an object",
      "an instance of Widget",
      "an anonymous function",
      "function named",
    ]);
  });
});
