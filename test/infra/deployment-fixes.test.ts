import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { describe, expect, it } from 'vitest';
import { LiveDashboard, WEB_SOCKET_THROTTLE_DEFAULTS, type LiveDashboardProps } from '../../lib/live-dashboard';
import { apiGatewayCloudWatchRoleContext } from '../../lib/watershed-stack';
import { propsTestStack } from './support';

function dashboardTemplate(props: Partial<LiveDashboardProps> = {}, stack: Stack = propsTestStack()): Template {
  const windowTable = new dynamodb.Table(stack, 'Windows', {
    partitionKey: { name: 'url', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'windowStart', type: dynamodb.AttributeType.STRING },
    stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
  });
  new LiveDashboard(stack, 'LiveDashboard', {
    windowTable,
    allowedLateness: Duration.seconds(60),
    webAppSource: s3deploy.Source.data('index.html', '<!doctype html><title>test</title>'),
    ...props,
  });
  return Template.fromStack(stack);
}

describe('deployment fixes', () => {
  it('names the origin access control per region, so a second region of the account deploys', () => {
    const controls = Object.values(dashboardTemplate().findResources('AWS::CloudFront::OriginAccessControl'));
    expect(controls).toHaveLength(1);
    const name = controls[0]!.Properties.OriginAccessControlConfig.Name;
    expect(JSON.stringify(name)).toContain('"Ref":"AWS::Region"');
  });

  it('throttles every route of the WebSocket stage, by default and as configured', () => {
    const stageOf = (template: Template) => Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0]!.Properties.DefaultRouteSettings;
    expect(stageOf(dashboardTemplate())).toMatchObject({ ThrottlingRateLimit: WEB_SOCKET_THROTTLE_DEFAULTS.rateLimit, ThrottlingBurstLimit: WEB_SOCKET_THROTTLE_DEFAULTS.burstLimit });
    expect(stageOf(dashboardTemplate({ webSocketThrottle: { rateLimit: 5, burstLimit: 7 } }))).toMatchObject({ ThrottlingRateLimit: 5, ThrottlingBurstLimit: 7 });
  });

  it('reads -c apiGatewayCloudWatchRole=false, and refuses anything but true or false', () => {
    const withContext = (value: unknown) => new Stack(new App({ context: value === undefined ? {} : { apiGatewayCloudWatchRole: value } }), 'S');
    expect(apiGatewayCloudWatchRoleContext(withContext(undefined))).toBe(true);
    expect(apiGatewayCloudWatchRoleContext(withContext('false'))).toBe(false);
    expect(apiGatewayCloudWatchRoleContext(withContext(false))).toBe(false);
    expect(apiGatewayCloudWatchRoleContext(withContext('true'))).toBe(true);
    expect(() => apiGatewayCloudWatchRoleContext(withContext('no'))).toThrow('Received "no"');
    expect(dashboardTemplate({ apiGatewayCloudWatchRole: false }).findResources('AWS::ApiGateway::Account')).toStrictEqual({});
  });
});
