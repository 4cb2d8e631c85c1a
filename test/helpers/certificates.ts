// Certificates for TLS tests, made by openssl (on the machine) into a directory.
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile("openssl", args, { cwd }, (error, _out, stderr) =>
      error ? reject(new Error(`openssl ${args.join(" ")}: ${stderr}`)) : resolve(),
    ),
  );
}

/**
 * Writes into `dir`: ca.crt/ca.key, server.crt/server.key for 127.0.0.1 and
 * client.crt/client.key (CN alice), both signed by that CA, and an unrelated
 * other-ca.crt/other-ca.key. P-256 keys, valid two days.
 */
export async function makeCertificates(dir: string): Promise<void> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  for (const ca of ["ca", "other-ca"]) {
    await openssl(
      [
        "req",
        "-x509",
        ...ec,
        "-keyout",
        `${ca}.key`,
        "-out",
        `${ca}.crt`,
        "-subj",
        `/CN=${ca}`,
        "-days",
        "2",
      ],
      dir,
    );
  }
  await writeFile(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1\n");
  await writeFile(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
  for (const [name, cn] of [
    ["server", "127.0.0.1"],
    ["client", "alice"],
  ] as const) {
    await openssl(
      ["req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`],
      dir,
    );
    await openssl(
      [
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
      ].concat(["-out", `${name}.crt`, "-days", "2", "-extfile", `${name}.ext`]),
      dir,
    );
  }
}
