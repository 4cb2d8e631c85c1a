import { expect } from "chai";
import { errorMessage, silentLogger, stderrLogger } from "../src/logger.js";

describe("logger", () => {
  it("writes one concise line per event with its fields", () => {
    const lines: string[] = [];
    const logger = stderrLogger({ format: "text", write: (line) => lines.push(line) });
    logger.info({ loops: ["A.a", "B.b"], port: 8080, skipped: undefined, none: [] }, "started");
    logger.warn({ error: new Error("bad thing") }, "failed");
    expect(lines).to.deep.equal([
      "loopgroup info: started loops=A.a,B.b port=8080\n",
      'loopgroup warn: failed error="bad thing"\n',
    ]);
  });

  it("drops debug lines unless asked", () => {
    const lines: string[] = [];
    stderrLogger({ format: "text", write: (line) => lines.push(line) }).debug({}, "hidden");
    stderrLogger({ debug: true, format: "text", write: (line) => lines.push(line) }).debug(
      { text: "a b" },
      "shown",
    );
    expect(lines).to.deep.equal(['loopgroup debug: shown text="a b"\n']);
  });

  it("errorMessage keeps name and message, drops the stack, and cuts at the limit", () => {
    expect(errorMessage(new TypeError("nope"))).to.equal("TypeError: nope");
    expect(errorMessage("plain")).to.equal("plain");
    const long = errorMessage(new Error("x".repeat(500)));
    expect(long).to.have.length(200);
    expect(long).to.not.include("at ");
  });

  it("the silent logger accepts every level", () => {
    expect(() => {
      silentLogger.debug({}, "");
      silentLogger.info({}, "");
      silentLogger.warn({}, "");
      silentLogger.error({}, "");
    }).to.not.throw();
  });
});
