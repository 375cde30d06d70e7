/**
 * The Java time-skipping test server refuses keepalive pings more often than every 5 minutes without calls
 * (gRPC's default policy) and sends GOAWAY; a time-skipping sleep in flight then never returns. Ping
 * rarely, and only during calls. A client plugin for TestWorkflowEnvironment.createTimeSkipping.
 */
export const gentleKeepalive = {
  name: 'gentle-keepalive',
  configureConnection: <T extends { channelArgs?: Record<string, unknown> }>(options: T): T => ({
    ...options,
    channelArgs: { ...options.channelArgs, 'grpc.keepalive_time_ms': 600_000, 'grpc.keepalive_permit_without_calls': 0 },
  }),
};
