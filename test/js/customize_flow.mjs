// The Bedrock guides' customization flow with the AWS SDK for JavaScript
// v3, only the endpoint changed: create a fine-tuning job, poll it through
// its phases to Completed, find the model with ListCustomModels, deploy it,
// and clean up. Credentials come from the usual AWS_* variables.
// Usage: STRATA_ENDPOINT=http://127.0.0.1:8080 node customize_flow.mjs <baseModelArn> <trainS3Uri> <outputS3Uri> <roleArn>
import {
  BedrockClient,
  CreateModelCustomizationJobCommand,
  GetModelCustomizationJobCommand,
  ListModelCustomizationJobsCommand,
  ListCustomModelsCommand,
  GetCustomModelCommand,
  DeleteCustomModelCommand,
  CreateCustomModelDeploymentCommand,
  GetCustomModelDeploymentCommand,
  ListCustomModelDeploymentsCommand,
  DeleteCustomModelDeploymentCommand,
  ResourceNotFoundException,
  ValidationException,
} from "@aws-sdk/client-bedrock";

const [baseModel, trainUri, outUri, roleArn] = process.argv.slice(2);
const client = new BedrockClient({ endpoint: process.env.STRATA_ENDPOINT, region: process.env.AWS_REGION || "us-east-1" });

function check(cond, msg) {
  if (!cond) {
    console.error("FAIL: " + msg);
    process.exit(1);
  }
}

// A bad hyperparameter is a ValidationException.
try {
  await client.send(new CreateModelCustomizationJobCommand({
    jobName: "js-bad", customModelName: "js-bad", roleArn, baseModelIdentifier: baseModel,
    trainingDataConfig: { s3Uri: trainUri }, outputDataConfig: { s3Uri: outUri },
    hyperParameters: { epochCount: "99" },
  }));
  check(false, "epochCount 99 was accepted");
} catch (e) {
  check(e instanceof ValidationException, "bad hyperparameter: " + e.name);
}

const created = await client.send(new CreateModelCustomizationJobCommand({
  jobName: "js-ft", customModelName: "js-agent", roleArn, baseModelIdentifier: baseModel,
  customizationType: "FINE_TUNING",
  trainingDataConfig: { s3Uri: trainUri },
  validationDataConfig: { validators: [{ s3Uri: trainUri }] },
  outputDataConfig: { s3Uri: outUri },
  hyperParameters: { epochCount: "1", batchSize: "4", learningRate: "0.001", learningRateWarmupSteps: "2" },
  jobTags: [{ key: "team", value: "support" }],
  clientRequestToken: "js-ft-token",
}));
check(/^arn:aws:bedrock:[a-z0-9-]+:\d{12}:model-customization-job\/[a-z0-9]{12}\/[a-z0-9]{12}$/.test(created.jobArn), "jobArn: " + created.jobArn);
const again = await client.send(new CreateModelCustomizationJobCommand({
  jobName: "js-ft", customModelName: "js-agent", roleArn, baseModelIdentifier: baseModel,
  trainingDataConfig: { s3Uri: trainUri }, outputDataConfig: { s3Uri: outUri }, clientRequestToken: "js-ft-token",
}));
check(again.jobArn === created.jobArn, "a retried create made another job");

let job;
for (let i = 0; i < 1200; i++) {
  job = await client.send(new GetModelCustomizationJobCommand({ jobIdentifier: "js-ft" }));
  if (job.status !== "InProgress") break;
  await new Promise((r) => setTimeout(r, 100));
}
check(job.status === "Completed", "job status " + job.status + ": " + job.failureMessage);
check(job.creationTime instanceof Date && job.endTime instanceof Date, "times are Dates");
for (const phase of ["validationDetails", "dataProcessingDetails", "trainingDetails"]) {
  check(job.statusDetails[phase].status === "Completed", phase + " " + job.statusDetails[phase].status);
}
check(typeof job.trainingMetrics.trainingLoss === "number" && job.validationMetrics.length === 1, "metrics");
check(job.hyperParameters.batchSize === "4" && job.outputModelName === "js-agent", "job fields");

const jobs = await client.send(new ListModelCustomizationJobsCommand({ statusEquals: "Completed" }));
check(jobs.modelCustomizationJobSummaries.length === 1 && jobs.modelCustomizationJobSummaries[0].customModelArn === job.outputModelArn, "job list");

const models = await client.send(new ListCustomModelsCommand({ baseModelArnEquals: baseModel }));
check(models.modelSummaries.length === 1 && models.modelSummaries[0].modelName === "js-agent", "model list");
const model = await client.send(new GetCustomModelCommand({ modelIdentifier: job.outputModelArn }));
check(model.modelStatus === "Active" && model.baseModelArn === baseModel && model.customizationType === "FINE_TUNING", "model fields");

const dep = await client.send(new CreateCustomModelDeploymentCommand({ modelDeploymentName: "js-live", modelArn: model.modelArn }));
const got = await client.send(new GetCustomModelDeploymentCommand({ customModelDeploymentIdentifier: dep.customModelDeploymentArn }));
check(got.status === "Active" && got.modelArn === model.modelArn && got.createdAt instanceof Date, "deployment fields");
const deps = await client.send(new ListCustomModelDeploymentsCommand({ modelArnEquals: model.modelArn }));
check(deps.modelDeploymentSummaries.length === 1, "deployment list");
await client.send(new DeleteCustomModelDeploymentCommand({ customModelDeploymentIdentifier: dep.customModelDeploymentArn }));
await client.send(new DeleteCustomModelCommand({ modelIdentifier: "js-agent" }));
try {
  await client.send(new GetCustomModelCommand({ modelIdentifier: "js-agent" }));
  check(false, "a deleted model is still there");
} catch (e) {
  check(e instanceof ResourceNotFoundException, "deleted model: " + e.name);
}
console.log(JSON.stringify({ ok: true }));
