// Validates KEDA ScaledObjects against KEDA's CRD schema (the validators @kubernetes-models/keda generated
// from it). Input on stdin: a JSON array of ScaledObject documents. Output on stdout: a JSON array of
// {"name": <metadata.name>, "errors": [<ajv error>, ...]}, one per document, empty errors when valid.
// Exit 0 even when a document is invalid (the caller decides); non-zero only when the input is unreadable.
import { readFileSync } from "node:fs";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";

const docs = JSON.parse(readFileSync(0, "utf8"));
const results = docs.map((doc) => {
  try {
    new ScaledObject(doc).validate();
    return { name: doc?.metadata?.name ?? null, errors: [] };
  } catch (e) {
    return { name: doc?.metadata?.name ?? null, errors: e.errors ?? [{ message: String(e) }] };
  }
});
process.stdout.write(JSON.stringify(results));
