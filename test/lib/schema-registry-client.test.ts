// The registry client's address and credentials (lib/schema-registry-client.ts), without a registry: the credentials
// come from SCHEMA_REGISTRY_USERNAME / PASSWORD first, else from the URL (decoded), and never stay in the URL fetch and
// the Confluent client get; the address people see has its password masked.
import { describe, expect, it } from 'vitest';
import { createSchemaRegistryClient, registryEndpoint } from '../../lib/schema-registry-client.ts';

const cfg = (url: string, user = '', password = '') => ({ SCHEMA_REGISTRY_URL: url, SCHEMA_REGISTRY_USERNAME: user, SCHEMA_REGISTRY_PASSWORD: password });

describe('registryEndpoint', () => {
  it('takes the credentials out of the URL, decoded', () => {
    expect(registryEndpoint(cfg('https://reg%40user:p%3Ass%40w@registry.example:8081/'))).toEqual({
      url: 'https://registry.example:8081', auth: { username: 'reg@user', password: 'p:ss@w' },
    });
    expect(registryEndpoint(cfg('http://user@127.0.0.1:8081/prefix')))
      .toEqual({ url: 'http://127.0.0.1:8081/prefix', auth: { username: 'user', password: '' } });
  });

  it('prefers SCHEMA_REGISTRY_USERNAME / PASSWORD over the URL\'s, and has none when neither says', () => {
    expect(registryEndpoint(cfg('http://old:old-pw@127.0.0.1:8081', 'new', 'new-pw')))
      .toEqual({ url: 'http://127.0.0.1:8081', auth: { username: 'new', password: 'new-pw' } });
    expect(registryEndpoint(cfg('http://127.0.0.1:8081'))).toEqual({ url: 'http://127.0.0.1:8081', auth: undefined });
  });

  it('shows the address with its password masked', () => {
    expect(createSchemaRegistryClient(cfg('http://user:hunter2@127.0.0.1:8081')).where).toBe('http://user:***@127.0.0.1:8081');
  });
});
