// reviews.mjs - AdmissionReview requests as kube-apiserver sends them, built
// from the fixtures in tests/fixtures/ and varied in code.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, "../../..");
export const FIXTURES = join(REPO, "tests/fixtures");

export function loadFixture(name) {
	return JSON.parse(readFileSync(join(FIXTURES, name), "utf8"));
}

// The ReplicaSet-created pod of review-replicaset-pod.json (a fresh copy).
export function rsReview() {
	return loadFixture("review-replicaset-pod.json");
}

export function rsPod() {
	return rsReview().request.object;
}

const GVK = {
	Pod: { kind: { group: "", version: "v1", kind: "Pod" }, resource: { group: "", version: "v1", resource: "pods" } },
	ConfigMap: { kind: { group: "", version: "v1", kind: "ConfigMap" }, resource: { group: "", version: "v1", resource: "configmaps" } },
	Deployment: { kind: { group: "apps", version: "v1", kind: "Deployment" }, resource: { group: "apps", version: "v1", resource: "deployments" } },
};

// An AdmissionReview request around `object`.
// opts: { apiVersion ("admission.k8s.io/v1"), namespace ("shop"),
//   operation ("CREATE"), kind ("Pod"), oldObject, uid, name, subResource }
export function makeReview(object, opts = {}) {
	const operation = opts.operation ?? "CREATE";
	const kind = opts.kind ?? object?.kind ?? "Pod";
	const gvk = GVK[kind] ?? GVK.Pod;
	const request = {
		uid: opts.uid ?? randomUUID(),
		kind: gvk.kind,
		resource: gvk.resource,
		requestKind: gvk.kind,
		requestResource: gvk.resource,
		namespace: opts.namespace ?? "shop",
		operation,
		userInfo: {
			username: "system:serviceaccount:kube-system:replicaset-controller",
			uid: "8f1d2c3b-6a5e-4f70-9b1c-0d2e3f4a5b6c",
			groups: ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
		},
		object: object ?? null,
		oldObject: opts.oldObject ?? null,
		dryRun: false,
		options: {
			kind: { CREATE: "CreateOptions", UPDATE: "UpdateOptions", DELETE: "DeleteOptions", CONNECT: "" }[operation] ?? "CreateOptions",
			apiVersion: "meta.k8s.io/v1",
		},
	};
	if (opts.name !== undefined)
		request.name = opts.name;
	if (opts.subResource !== undefined)
		request.subResource = opts.subResource;
	if (request.namespace === null)
		delete request.namespace;
	return {
		apiVersion: opts.apiVersion ?? "admission.k8s.io/v1",
		kind: "AdmissionReview",
		request,
	};
}

export const V1 = "admission.k8s.io/v1";
export const V1BETA1 = "admission.k8s.io/v1beta1";

// A pod with a plain name and namespace, for shapes that need no owner.
export function namedPod(name = "demo") {
	const pod = rsPod();
	delete pod.metadata.generateName;
	delete pod.metadata.ownerReferences;
	delete pod.metadata.managedFields;
	pod.metadata.name = name;
	pod.metadata.namespace = "shop";
	return pod;
}
