#!/usr/bin/env node
// The `loopgroup` command (package.json "bin"): see src/cli.ts.
import { main } from "../dist/cli.js";

process.exitCode = await main(process.argv.slice(2));
