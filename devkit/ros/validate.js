// Validate ROS resources with the ROS CDK's own generated property validators (offline).
//
// stdin: {"modules": DIR, "resources": {LogicalId: {"Type": T, "Properties": {...}}}}
// stdout: {"results": {LogicalId: ["<error>", ...]}, "attributes": {Type: ["Arn", ...]}}
//         (an empty error list: valid; attributes: what Fn::GetAtt may name on each type)
//
// The @alicloud/ros-cdk-* packages are generated from ROS's resource-type schemas: each RosX class
// renders its properties through rosXPropsToRosTemplate, which (with enableResourcePropertyConstraint)
// runs the schema's validators: required properties, types, ranges, allowed values, nested structs.
// Template keys are ROS names (PascalCase, e.g. 'Id'); the validators take the jsii names (e.g.
// 'identity'). The mapping is read from each generated renderer, and the property tree from the
// package's jsii assembly, so a key that no schema property has is reported as unknown.
'use strict';
const fs = require('fs');
const path = require('path');

function readStdin() {
  return JSON.parse(fs.readFileSync(0, 'utf8'));
}

function loadPackages(modulesDir) {
  const scope = path.join(modulesDir, '@alicloud');
  const types = {};
  const classes = {}; // ROS type name -> {cls, fqn}
  const renderers = {}; // renderer function name -> {Pascal: camel}
  for (const dir of fs.readdirSync(scope)) {
    if (!dir.startsWith('ros-cdk-')) continue;
    const pkgDir = path.join(scope, dir);
    const assembly = JSON.parse(fs.readFileSync(path.join(pkgDir, '.jsii'), 'utf8'));
    Object.assign(types, assembly.types);
    const lib = path.join(pkgDir, 'lib');
    for (const file of fs.readdirSync(lib)) {
      if (!file.endsWith('.generated.js')) continue;
      const source = fs.readFileSync(path.join(lib, file), 'utf8');
      const fn = /^function (\w+ToRosTemplate)\(properties[^)]*\) \{([\s\S]*?)^\}/gm;
      let m;
      while ((m = fn.exec(source)) !== null) {
        const mapping = {};
        const entry = /'(\w+)': [^\n]*?\(properties\.(\w+)\)/g;
        let e;
        while ((e = entry.exec(m[2])) !== null) mapping[e[1]] = e[2];
        renderers[m[1]] = mapping;
      }
    }
    if (dir === 'ros-cdk-core') continue;
    const mod = require(path.join(scope, dir));
    for (const [name, cls] of Object.entries(mod)) {
      if (typeof cls === 'function' && name.startsWith('Ros') && cls.ROS_RESOURCE_TYPE_NAME) {
        classes[cls.ROS_RESOURCE_TYPE_NAME] = { cls, fqn: `${assembly.name}.${name}` };
      }
    }
  }
  return { types, classes, renderers };
}

function isIntrinsic(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::'));
}

function rendererName(fqn) {
  // '@alicloud/ros-cdk-fc.RosFunction.CodeProperty' -> 'rosFunctionCodePropertyToRosTemplate'
  const tail = fqn.split('.').slice(1).join('');
  return tail.charAt(0).toLowerCase() + tail.slice(1) + 'ToRosTemplate';
}

function convert(ctx, value, type, where, errors) {
  if (value === null || value === undefined || isIntrinsic(value)) return value;
  if (type.union) {
    const options = type.union.types.filter((t) => !(t.fqn || '').endsWith('core.IResolvable'));
    const struct = options.find((t) => t.fqn && ctx.types[t.fqn] && ctx.types[t.fqn].kind === 'interface');
    const pick = (typeof value === 'object' && !Array.isArray(value) && struct) || options[0];
    return pick ? convert(ctx, value, pick, where, errors) : value;
  }
  if (type.collection) {
    const element = type.collection.elementtype;
    if (type.collection.kind === 'array' && Array.isArray(value)) {
      return value.map((v, i) => convert(ctx, v, element, `${where}[${i}]`, errors));
    }
    if (type.collection.kind === 'map' && typeof value === 'object' && !Array.isArray(value)) {
      const out = {};
      for (const [k, v] of Object.entries(value)) out[k] = convert(ctx, v, element, `${where}.${k}`, errors);
      return out;
    }
    return value;
  }
  if (type.fqn && ctx.types[type.fqn] && ctx.types[type.fqn].kind === 'interface') {
    if (typeof value !== 'object' || Array.isArray(value)) return value; // the validator reports it
    const mapping = ctx.renderers[rendererName(type.fqn)] || {};
    const props = {};
    for (const p of ctx.types[type.fqn].properties || []) props[p.name] = p.type;
    const out = {};
    for (const [key, v] of Object.entries(value)) {
      const camel = mapping[key];
      if (!camel || !(camel in props)) {
        errors.push(`${where}.${key}: unknown property (the schema has ${Object.keys(mapping).sort().join(', ')})`);
        continue;
      }
      out[camel] = convert(ctx, v, props[camel], `${where}.${key}`, errors);
    }
    return out;
  }
  return value;
}

function validate(ctx, ros, stack, logicalId, resource) {
  const errors = [];
  const known = ctx.classes[resource.Type];
  if (!known) return [`Type ${resource.Type}: not a resource type of the loaded ROS CDK packages`];
  const props = convert(ctx, resource.Properties || {}, { fqn: `${known.fqn}Props` }, 'Properties', errors);
  try {
    const instance = new known.cls(stack, logicalId, props, true);
    instance.renderProperties(props);
  } catch (err) {
    errors.push(String(err.message || err).trim());
  }
  return errors;
}

function main() {
  const request = readStdin();
  const ctx = loadPackages(request.modules);
  const ros = require(path.join(request.modules, '@alicloud', 'ros-cdk-core'));
  const app = new ros.App();
  const stack = new ros.Stack(app, 'Validation');
  const results = {};
  const attributes = {};
  for (const [logicalId, resource] of Object.entries(request.resources)) {
    results[logicalId] = validate(ctx, ros, stack, logicalId, resource);
    const known = ctx.classes[resource.Type];
    if (known) {
      const names = [...known.cls.toString().matchAll(/getAtt\('(\w+)'\)/g)].map((m) => m[1]);
      attributes[resource.Type] = [...new Set(names)].sort();
    }
  }
  process.stdout.write(JSON.stringify({ results, attributes }));
}

main();
