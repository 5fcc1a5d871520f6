import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { authorizeConnect, idTokenVerifier, type AuthorizerDependencies } from './authorize';
import { cognitoIssuer, type AuthorizerPolicy } from './core/authorize';
import { IssuerEnv } from '../../contracts/dashboard-settings';
import { AuthorizerSettings, settingsFromEnv } from './settings';

// Created once per cold start: the verifier caches the JWKS across invocations.
const settings = settingsFromEnv(AuthorizerSettings, 'authorizer');
const issuer = cognitoIssuer(settings.userPoolId, {
  cognitoEndpoint: process.env[IssuerEnv.cognitoEndpoint],
  endpoint: process.env[IssuerEnv.endpoint],
  region: process.env[IssuerEnv.region],
});
const dependencies: AuthorizerDependencies = {
  verifier: idTokenVerifier(issuer, settings.userPoolClientId),
  logger: new Logger(),
  metrics: new Metrics(),
};
dependencies.logger.info('Authorizer ready', { issuer });

export const handler = (event: APIGatewayRequestAuthorizerEvent): Promise<AuthorizerPolicy> => authorizeConnect(event, dependencies);
