import type { Model } from '@kubernetes-models/base'
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1'
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2'
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1'
import type { Manifest } from './helm-chart.ts'

type ModelClass = new (data: never) => Model<unknown>

/** Every apiVersion/kind the chart renders, with the model whose JSON schema checks it. */
const models: Record<string, ModelClass> = {
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'keda.sh/v1alpha1/TriggerAuthentication': TriggerAuthentication,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule
}

/** What is wrong with each object, one line each; an unknown kind is wrong too. */
export function schemaErrors(manifests: Manifest[]): string[] {
  const errors: string[] = []
  for (const manifest of manifests) {
    const where = `${manifest.apiVersion}/${manifest.kind} ${manifest.metadata.name}`
    const ModelOf = models[`${manifest.apiVersion}/${manifest.kind}`]
    if (ModelOf === undefined) {
      errors.push(`${where}: no model for this kind`)
      continue
    }
    try {
      new ModelOf(manifest as never).validate()
    } catch (error) {
      errors.push(`${where}: ${(error as Error).message}`)
    }
  }
  return errors
}

/** DNS-1123 label: what Kubernetes requires of Service names, and of every name here */
export const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
