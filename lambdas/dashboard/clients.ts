import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/** A Document client over a traced DynamoDB client. */
export function documentClient(tracer: Tracer): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({})), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

/**
 * The @connections client. No `endpoint` on purpose: the SDK reads it from
 * AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI (the stage's callback URL on AWS, the edge locally),
 * keeping any path in it (`/live` on AWS). Timeouts bound a post to a stalled connection, so one
 * slow client cannot hold a broadcast for the whole function timeout.
 */
export function managementApiClient(tracer: Tracer): ApiGatewayManagementApiClient {
  return tracer.captureAWSv3Client(
    new ApiGatewayManagementApiClient({
      requestHandler: new NodeHttpHandler({ connectionTimeout: 1000, requestTimeout: 3000 }),
      maxAttempts: 2,
    }),
  );
}
