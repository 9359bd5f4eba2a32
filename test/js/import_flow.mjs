// The Bedrock guides' import flow with the AWS SDK for JavaScript v3, only
// the endpoint changed: create an import job, poll it to Completed, get and
// list the model, delete it. Credentials come from the usual AWS_* variables.
// Usage: STRATA_ENDPOINT=http://127.0.0.1:8080 node import_flow.mjs <s3Uri> <roleArn> <name>
import {
  BedrockClient,
  CreateModelImportJobCommand,
  GetModelImportJobCommand,
  GetImportedModelCommand,
  ListImportedModelsCommand,
  ListModelImportJobsCommand,
  DeleteImportedModelCommand,
  ResourceNotFoundException,
} from "@aws-sdk/client-bedrock";

const [s3Uri, roleArn, name] = process.argv.slice(2);
const client = new BedrockClient({ endpoint: process.env.STRATA_ENDPOINT, region: process.env.AWS_REGION || "us-east-1" });

function check(cond, msg) {
  if (!cond) {
    console.error("FAIL: " + msg);
    process.exit(1);
  }
}

const created = await client.send(new CreateModelImportJobCommand({
  jobName: name + "-job",
  importedModelName: name,
  roleArn,
  modelDataSource: { s3DataSource: { s3Uri } },
  clientRequestToken: name + "-token",
  jobTags: [{ key: "team", value: "support" }],
}));
check(/^arn:aws:bedrock:[a-z0-9-]+:\d{12}:model-import-job\/[a-z0-9]{12}$/.test(created.jobArn), "jobArn format: " + created.jobArn);

let job;
for (let i = 0; i < 600; i++) {
  job = await client.send(new GetModelImportJobCommand({ jobIdentifier: created.jobArn }));
  if (job.status !== "InProgress") break;
  await new Promise((r) => setTimeout(r, 100));
}
check(job.status === "Completed", "job status " + job.status + " " + (job.failureMessage || ""));
check(job.creationTime instanceof Date && job.endTime instanceof Date, "job times are Dates");

const model = await client.send(new GetImportedModelCommand({ modelIdentifier: name }));
check(model.modelArn === job.importedModelArn, "model ARN matches the job's");
check(model.modelArchitecture === "mistral", "architecture " + model.modelArchitecture);

const list = await client.send(new ListImportedModelsCommand({ nameContains: name }));
check(list.modelSummaries.some((m) => m.modelName === name), "model listed");
const jobs = await client.send(new ListModelImportJobsCommand({ statusEquals: "Completed", sortOrder: "Ascending" }));
check(jobs.modelImportJobSummaries.some((j) => j.jobArn === created.jobArn), "job listed");

await client.send(new DeleteImportedModelCommand({ modelIdentifier: model.modelArn }));
try {
  await client.send(new GetImportedModelCommand({ modelIdentifier: name }));
  check(false, "model still there after delete");
} catch (e) {
  check(e instanceof ResourceNotFoundException, "expected ResourceNotFoundException, got " + e.name);
}
console.log(JSON.stringify({ ok: true, jobArn: created.jobArn, modelArn: model.modelArn }));
