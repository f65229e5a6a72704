#!/usr/bin/env ruby
# frozen_string_literal: true

# Renders every template of one BOSH job the way the director does, with plain Ruby (ERB, JSON, YAML):
#
#   ruby bosh/test/render.rb <job-dir> <context.json> <out-dir>
#
# <context.json>: {"properties": {...manifest properties, nested...},
#                  "spec": {"name", "id", "index", "address", "deployment", "ip", "az", "bootstrap"},
#                  "links": {"<link name>": {"instances": [{"name","id","index","az","address","bootstrap"}],
#                                             "properties": {...nested...}}}}
# Each template listed in the job's spec `templates:` is written to <out-dir>/<destination>. On a rendering error
# the message is printed to stderr as the director reports it ("Error filling in template '<src>' ...") and the
# exit status is 1.
#
# As in BOSH: only properties declared in the job spec exist; a spec default fills an absent property; `p(name)`
# of a property that is neither set nor defaulted raises "Can't find property '<name>'"; `if_p` yields only when
# every named property has a value; links exist only when the spec `consumes:` them and the context provides them.
# ERB runs with trim mode '-' (so `<%- ... -%>` swallows its line), as bosh-template does.

require 'erb'
require 'fileutils'
require 'json'
require 'ostruct'
require 'yaml'

# Raised by p() and link(); the message is what BOSH prints.
class UnknownProperty < StandardError
  def initialize(names)
    super("Can't find property '#{names.join("', or '")}'")
  end
end

class UnknownLink < StandardError
  def initialize(name)
    super("Can't find link '#{name}'")
  end
end

# What `if_p`/`if_link` return: `.else { }` runs only when the block did not.
class ActiveElseBlock
  def initialize(active)
    @active = active
  end

  def else
    yield if @active
  end
end

module PropertyLookup
  # Dotted name → value in a nested hash, or nil when any step is missing.
  def self.dig(hash, name)
    name.split('.').reduce(hash) { |h, key| h.is_a?(Hash) ? h[key] : nil }
  end

  def self.put(hash, name, value)
    *parents, leaf = name.split('.')
    parents.reduce(hash) { |h, key| h[key] ||= {} }[leaf] = value
  end
end

# BOSH's p() and if_p() over @properties, for a job's templates and for a link's properties alike.
module PropertyAccess
  def p(*args)
    names = Array(args[0])
    names.each do |name|
      value = PropertyLookup.dig(@properties, name)
      return value unless value.nil?
    end
    return args[1] if args.length == 2

    raise UnknownProperty, names
  end

  def if_p(*names)
    values = names.map { |name| PropertyLookup.dig(@properties, name) }
    return ActiveElseBlock.new(true) if values.any?(&:nil?)

    yield(*values)
    ActiveElseBlock.new(false)
  end
end

# A link as templates see it: instances and the providing job's properties.
class Link
  attr_reader :instances

  def initialize(name, data)
    @name = name
    @properties = data.fetch('properties', {})
    @instances = data.fetch('instances', []).map { |i| OpenStruct.new(i) }
  end

  def address
    raise "link '#{@name}' has no instances" if @instances.empty?

    @instances.first.address
  end

  include PropertyAccess
end

# The binding templates are evaluated in: p, if_p, spec, link, if_link.
class EvaluationContext
  attr_reader :spec, :name, :index

  def initialize(job_spec, context)
    manifest = context.fetch('properties', {})
    # As the director: a property exists only when the spec declares it; the manifest value wins over the default.
    @properties = {}
    (job_spec['properties'] || {}).each do |name, definition|
      value = PropertyLookup.dig(manifest, name)
      value = definition['default'] if value.nil? && definition.is_a?(Hash)
      PropertyLookup.put(@properties, name, value) unless value.nil?
    end
    @declared = (job_spec['properties'] || {}).keys
    # What the director always sets; a context's `spec` overrides any of it.
    instance = {
      'name' => job_spec['name'], 'id' => '5b9f6a44-0c1e-4d3a-9a55-7d0e6c1f2a01', 'index' => 0,
      'address' => '10.0.0.10', 'ip' => '10.0.0.10', 'az' => 'z1', 'deployment' => 'test', 'bootstrap' => true,
      'job' => { 'name' => job_spec['name'] }
    }
    instance.merge!(context.fetch('spec', {}))
    instance['properties'] = @properties
    @spec = OpenStruct.new(instance)
    @spec.job = OpenStruct.new(instance['job'])
    @name = job_spec['name']
    @index = @spec.index
    consumed = (job_spec['consumes'] || []).map { |c| c['name'] }
    @links = context.fetch('links', {}).select { |name, _| consumed.include?(name) }
                    .to_h { |name, data| [name, Link.new(name, data)] }
  end

  include PropertyAccess

  def link(name)
    @links.fetch(name) { raise UnknownLink, name }
  end

  def if_link(name)
    return ActiveElseBlock.new(true) unless @links.key?(name)

    yield @links[name]
    ActiveElseBlock.new(false)
  end

  def get_binding
    binding
  end
end

def main(argv)
  unless argv.length == 3
    warn 'usage: render.rb <job-dir> <context.json> <out-dir>'
    return 2
  end
  job_dir, context_file, out_dir = argv
  job_spec = YAML.safe_load(File.read(File.join(job_dir, 'spec')))
  context = JSON.parse(File.read(context_file))
  (job_spec['templates'] || {}).each do |source, destination|
    template = File.read(File.join(job_dir, 'templates', source))
    begin
      erb = ERB.new(template, trim_mode: '-')
      erb.filename = source
      output = erb.result(EvaluationContext.new(job_spec, context).get_binding)
    rescue StandardError => e
      warn "Error filling in template '#{source}' for '#{job_spec['name']}/0': #{e.message}"
      return 1
    end
    target = File.join(out_dir, destination)
    FileUtils.mkdir_p(File.dirname(target))
    File.write(target, output)
  end
  0
end

exit(main(ARGV)) if $PROGRAM_NAME == __FILE__
